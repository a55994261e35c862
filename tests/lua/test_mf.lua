-- test_mf.lua — recx.models.mf (SPEC 3.2) and the negative sampler of recx.rec.batches.
--
-- Owns: the sampled-softmax loss and the user-row gradient against a hand computation in Lua
-- doubles on a 2-d toy model; scores = dot products; the init (N(0, 0.02), padding rows 0);
-- the model file round trip (recx.rec.model_file); the negative sampler's rule as a property
-- (never the positive, never in the history, ids in 1..n-1, every allowed id reachable, the
-- exact fallback after the retries) and its errors; argument errors.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local MF = require "recx.models.mf"
local batches = require "recx.rec.batches"
local model_file = require "recx.rec.model_file"

recx.num_threads(1)

local U = {{0, 0}, {0.5, -1.0}, {2.0, 0.25}}                         -- users 0 (pad), 1, 2
local V = {{0, 0}, {1.0, 0.0}, {0.0, 1.0}, {-1.5, 0.5}, {0.25, 0.75}}  -- items 0 (pad)..4

local function toy()
  local m = MF({n_users = 3, n_items = 5, dim = 2, seed = 1})
  m:load_state_dict({["user_embedding.weight"] = tensor.from(U), ["item_embedding.weight"] = tensor.from(V)})
  return m
end

local function dot(a, b) return a[1] * b[1] + a[2] * b[2] end

T.case("sampled-softmax loss and user gradient equal a hand computation", function()
  local m = toy()
  local uids, cand = {1, 2, 1}, {{2, 1, 3}, {4, 3, 1}, {1, 4, 2}}   -- column 1 = positive
  local loss = m:sampled_loss(tensor.from(uids, {dtype = "i64"}), tensor.from(cand, {dtype = "i64"}))
  local want, gu = 0.0, {{0, 0}, {0, 0}, {0, 0}}
  for r = 1, 3 do
    local u = U[uids[r] + 1]
    local logits, mx = {}, -math.huge
    for j = 1, 3 do logits[j] = dot(u, V[cand[r][j] + 1]); mx = math.max(mx, logits[j]) end
    local z = 0.0
    for j = 1, 3 do z = z + math.exp(logits[j] - mx) end
    want = want + (mx + math.log(z) - logits[1]) / 3
    for j = 1, 3 do
      local p = math.exp(logits[j] - mx) / z - (j == 1 and 1 or 0)
      local v = V[cand[r][j] + 1]
      for d = 1, 2 do gu[uids[r] + 1][d] = gu[uids[r] + 1][d] + p * v[d] / 3 end
    end
  end
  T.near(loss:item(), want, 1e-6, "loss")
  loss:backward()
  local g = m.user_embedding.weight:grad():tolist()
  for u = 1, 3 do
    for d = 1, 2 do T.near(g[u][d], gu[u][d], 1e-6, string.format("d loss / d user[%d][%d]", u - 1, d)) end
  end
  T.eq(g[1], {0, 0}, "the padding row gets no gradient")
end)

T.case("scores are dot products with every item", function()
  local m = toy():eval()
  local s = m:scores(tensor.from({2, 1}, {dtype = "i64"})):tolist()
  for r, u in ipairs({2, 1}) do
    for i = 1, 5 do T.near(s[r][i], dot(U[u + 1], V[i]), 1e-6, string.format("score(%d, %d)", u, i - 1)) end
  end
  T.eq(m:user_vectors(tensor.from({1}, {dtype = "i64"})):tolist(), {U[2]})
end)

T.case("init: N(0, 0.02), padding rows zero, SPEC dim 512 by default", function()
  local m = MF({n_users = 400, n_items = 300, seed = 3})
  T.eq(m.user_embedding.weight:shape(), {400, 512})
  T.eq(m.item_embedding.weight:shape(), {300, 512})
  local w = m.item_embedding.weight:narrow(1, 2, 299)
  local mean = w:mean():item()
  local std = ((w - mean) * (w - mean)):mean():item() ^ 0.5
  T.ok(math.abs(mean) < 0.002, "mean ~ 0: " .. mean)
  T.ok(math.abs(std - 0.02) < 0.001, "std ~ 0.02: " .. std)
  T.eq(m.user_embedding.weight:select(1, 1):abs():sum():item(), 0, "user padding row")
  T.eq(m.item_embedding.weight:select(1, 1):abs():sum():item(), 0, "item padding row")
end)

T.case("model file round trip rebuilds the same scores", function()
  local m = toy():eval()
  local path = os.tmpname()
  model_file.save(path, m, {epoch = 3})
  local m2, cfg, extra = model_file.load(path)
  os.remove(path)
  T.eq(cfg.model, "MF")
  T.eq(cfg.embedding_size, 2)
  T.eq(cfg.n_users, 3)
  T.eq(extra.epoch, 3)
  local ids = tensor.from({1, 2}, {dtype = "i64"})
  T.eq(m2:scores(ids):tolist(), m:scores(ids):tolist(), "same scores")
end)

T.case("negative sampler: never the positive or the history (property)", function()
  local gen = tensor.generator(11)
  -- 30 items; user u's history covers most of the catalogue for high u, forcing re-draws
  local n_items, sets, users, pos = 31, {}, {}, {}
  for u = 1, 25 do
    local s = {}
    for i = 1, u do s[(i * 7) % 30 + 1] = true end
    sets[u] = s
  end
  for r = 1, 200 do
    users[r] = (r - 1) % 25 + 1
    pos[r] = (r * 13) % 30 + 1
  end
  for _, retries in ipairs({100, 1, 0}) do
    local negs = batches.negatives(users, pos, 40, n_items, sets, gen, retries):tolist()
    local bad, seen = 0, {}
    for r = 1, #users do
      for _, v in ipairs(negs[r]) do
        if v < 1 or v > n_items - 1 or v == pos[r] or sets[users[r]][v] then bad = bad + 1 end
        if users[r] == 25 then seen[v] = true end
      end
    end
    T.eq(bad, 0, "invalid negatives with max_retries " .. retries)
    -- user 25 has 25 items in its history and 1 positive per row; its allowed ids all show up
    local allowed, hit = 0, 0
    for v = 1, 30 do
      if not sets[25][v] then
        allowed = allowed + 1
        if seen[v] then hit = hit + 1 end
      end
    end
    T.ok(hit >= allowed - 1, string.format("retries %d: %d of %d allowed ids drawn", retries, hit, allowed))
  end
  -- the SPEC sizes: 285 negatives from 1864 items
  local big = {}
  for u = 1, 4 do
    big[u] = {}
    for i = 1, 200 do big[u][(i * 9 + u) % 1864 + 1] = true end
  end
  local negs = batches.negatives({1, 2, 3, 4}, {5, 6, 7, 8}, 285, 1865, big, gen):tolist()
  local bad = 0
  for r = 1, 4 do
    T.eq(#negs[r], 285)
    for _, v in ipairs(negs[r]) do if v == r + 4 or big[r][v] or v < 1 or v > 1864 then bad = bad + 1 end end
  end
  T.eq(bad, 0, "SPEC-sized draw")
end)

T.case("negative sampler: replays for a generator state; errors", function()
  local sets = {{[1] = true}, {[2] = true}}
  local a = batches.negatives({1, 2}, {3, 4}, 5, 10, sets, tensor.generator(5)):tolist()
  local b = batches.negatives({1, 2}, {3, 4}, 5, 10, sets, tensor.generator(5)):tolist()
  T.eq(a, b, "same seed, same negatives")
  T.raises("user 1 has every item in its history",
    function() batches.negatives({1}, {1}, 2, 3, {{[2] = true}}, tensor.generator(1)) end)
  T.raises("MF: n_items: expected an integer >= 2", function() MF({n_users = 3}) end)
end)

T.done()
