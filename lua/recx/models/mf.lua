-- recx.models.mf — matrix factorisation as UniRec's MF (SPEC 3.2).
--
-- Owns: a user table (n_users, dim) and an item table (n_items, dim), id 0 = padding in both
-- (zero row, no gradient); score(u, i) = user[u] . item[i] (dot product, tau 1, no biases); the
-- sampled-softmax loss over a group of 1 positive + K negatives:
--   loss = mean over rows of -log_softmax(user[u] . item[cand[u]])[1]   (cand column 1 = positive)
-- Init N(0, 0.02) for both tables (UniRec's normal init), the padding rows 0.
--   local MF = require "recx.models.mf"
--   local m = MF({n_users = 3902, n_items = 1865, dim = 512, seed = 436913})
--   m:user_vectors(uids)      -- (B) i64 -> (B, dim)
--   m:scores(uids)            -- (B, n_items)
--   m:sampled_loss(uids, cand) -- cand (B, 1 + K) i64 -> scalar
local recx = require "recx"
local nn = recx.nn
local F = nn.functional
local tensor = recx.tensor

local MF = nn.Module:extend("MF")

local defaults = {dim = 512, seed = 0}

function MF:init(cfg)
  cfg = cfg or {}
  local c = {model = "MF"}
  for k, v in pairs(defaults) do c[k] = cfg[k] == nil and v or cfg[k] end
  c.n_users, c.n_items = cfg.n_users, cfg.n_items
  for _, k in ipairs({"n_users", "n_items"}) do
    if math.type(c[k]) ~= "integer" or c[k] < 2 then
      error(string.format("MF: %s: expected an integer >= 2 (padding id 0 included), got %s", k, tostring(c[k])), 3)
    end
  end
  if math.type(c.dim) ~= "integer" or c.dim < 1 then error("MF: dim: expected a positive integer", 3) end
  self.cfg = c
  local g = tensor.generator(c.seed)
  self:add_module("user_embedding", nn.Embedding(c.n_users, c.dim, {padding_idx = 0, generator = g}))
  self:add_module("item_embedding", nn.Embedding(c.n_items, c.dim, {padding_idx = 0, generator = g}))
  for _, t in ipairs({self.user_embedding.weight, self.item_embedding.weight}) do
    nn.init.normal_(t, 0, 0.02, g)
    recx.no_grad(function() t:select(1, 1):fill_(0) end)
  end
end

-- uids (B) integer -> (B, dim); m:user_vectors(uids) is the same (the name SASRec shares)
function MF:forward(uids)
  return self.user_embedding(uids)
end
MF.user_vectors = MF.forward

-- uids (B) -> (B, n_items) scores against every item (padding included)
function MF:scores(uids)
  return self(uids):matmul(self.item_embedding.weight:t())
end

-- The item table (n_items, dim) that scores are dot products with (a live parameter).
function MF:item_vectors()
  return self.item_embedding.weight
end

-- uids (B), cand (B, 1 + K) with the positive in column 1 -> the mean sampled-softmax loss.
function MF:sampled_loss(uids, cand)
  local B, K1 = cand:size(1), cand:size(2)
  local u = self(uids):view(B, 1, self.cfg.dim)                        -- (B, 1, C)
  local items = self.item_embedding(cand)                             -- (B, K1, C)
  local logits = (items * u):sum(3)                                   -- (B, K1)
  return F.cross_entropy(logits, tensor.zeros(B, {dtype = "i64", device = logits:device()}))
end

return MF
