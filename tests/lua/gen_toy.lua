-- gen_toy.lua — a toy causal LM for the generation tests (test_generate*.lua): its logits for the
-- next token are a fixed hash of the whole prefix of REAL tokens (padding excluded by the
-- attention mask), so brute force can enumerate every continuation and a Python copy
-- (tests/fixtures/make_generate_fixtures.py) reproduces it exactly.
--
-- Owns: the hash (FNV-1a steps over 32-bit integers), logits_of (double reference), and a model
-- object that follows recx.llm.llama's generation contract and checks how it is called:
--   m = toy.new{vocab = 5, eos = 1, pad = 0, seed = 7, scale = 1}
--   cache = m:new_cache(B, max_len); cache:length(); cache:reorder(idx (B') i64); cache:reset()
--   m:forward(ids (B, T) i64, {cache =, attention_mask = (B, past + T), logits_at = "last"}) -> (B, V)
-- forward raises when the mask's width is not past + T, when a mask column of the past changed
-- (a reorder that forgot the mask), or when the cache would overflow max_len. m.calls records
-- {B, T} of every forward. toy.new{..., no_cache = true} gives a model with only forward(ids) ->
-- (B, T, V) (every position), like the cacheless llama2.c model.
local recx = require "recx"
local tensor = recx.tensor

local M = {}

local function mix(h, x)
  h = ((h ~ x) * 16777619) & 0xffffffff
  return h ~ (h >> 15)
end

-- Logits (a Lua list, index id + 1) of the token after `prefix` (0-based ids).
function M.logits_of(prefix, V, seed, scale)
  local h = 2166136261 ~ seed
  for _, id in ipairs(prefix) do h = mix(h, id + 1) end
  local out = {}
  for v = 0, V - 1 do
    local x = mix(mix(h, 40503 + v), v)
    out[v + 1] = ((x % 2001) - 1000) / 250 * scale
  end
  return out
end

-- log_softmax in double.
function M.log_softmax(logits)
  local m = -math.huge
  for _, x in ipairs(logits) do m = math.max(m, x) end
  local s = 0
  for _, x in ipairs(logits) do s = s + math.exp(x - m) end
  local out, lse = {}, m + math.log(s)
  for i, x in ipairs(logits) do out[i] = x - lse end
  return out
end

local Cache = {}
Cache.__index = Cache

function Cache:length() return self.len end

function Cache:reset()
  self.len = 0
  for b = 1, self.B do self.rows[b], self.mask[b] = {}, {} end
end

function Cache:reorder(idx)
  local list = idx:tolist()
  local rows, mask = {}, {}
  for i, r in ipairs(list) do
    local src_r, src_m = self.rows[r + 1], self.mask[r + 1]
    rows[i], mask[i] = {table.unpack(src_r)}, {table.unpack(src_m)}
  end
  self.rows, self.mask, self.B = rows, mask, #list
end

local Model = {}
Model.__index = Model

function M.new(opts)
  local m = setmetatable({V = opts.vocab, seed = opts.seed or 7, scale = opts.scale or 1, calls = {},
    config = {eos_token_id = opts.eos or 1, pad_token_id = opts.pad or 0, bos_token_id = 0,
      vocab_size = opts.vocab}}, Model)
  if opts.no_cache then
    m.new_cache = false
    m.forward = Model.forward_full
  end
  return m
end

function Model:new_cache(B, max_len)
  local c = setmetatable({B = B, max_len = max_len, rows = {}, mask = {}, len = 0}, Cache)
  c:reset()
  return c
end

function Model:forward(ids, opts)
  local cache = assert(opts.cache, "toy: no cache")
  assert(opts.logits_at == "last", "toy: expected logits_at = 'last'")
  local B, T = ids:size(1), ids:size(2)
  assert(B == cache.B, string.format("toy: batch %d but cache has %d rows", B, cache.B))
  assert(cache.len + T <= cache.max_len, "toy: cache overflow")
  local mask = opts.attention_mask:to("i64")
  assert(mask:size(1) == B and mask:size(2) == cache.len + T,
    string.format("toy: mask (%d, %d), expected (%d, %d)", mask:size(1), mask:size(2), B, cache.len + T))
  local m, list = mask:tolist(), ids:tolist()
  local out = {}
  for b = 1, B do
    for s = 1, cache.len do
      assert(m[b][s] == cache.mask[b][s], string.format("toy: row %d: mask column %d changed", b, s))
    end
    for t = 1, T do
      local keep = m[b][cache.len + t]
      cache.mask[b][cache.len + t] = keep
      if keep ~= 0 then cache.rows[b][#cache.rows[b] + 1] = list[b][t] end
    end
    out[b] = M.logits_of(cache.rows[b], self.V, self.seed, self.scale)
  end
  cache.len = cache.len + T
  self.calls[#self.calls + 1] = {B, T}
  return tensor.from(out)
end

function Model:forward_full(ids)
  local B, T = ids:size(1), ids:size(2)
  local list, out = ids:tolist(), {}
  for b = 1, B do
    out[b] = {}
    for t = 1, T do out[b][t] = M.logits_of({table.unpack(list[b], 1, t)}, self.V, self.seed, self.scale) end
  end
  self.calls[#self.calls + 1] = {B, T}
  return tensor.from(out)
end

return M
