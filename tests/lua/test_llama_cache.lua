-- test_llama_cache.lua — the KV cache of recx.llm.llama: prefill + one-token decode steps give
-- the logits of full forwards over the same prefixes (tiny HF fixtures, 1e-5), also for a
-- left-padded batch (mask given every step, or remembered by the cache), reorder (beam search
-- row selection), reset, chunked appends, and the errors.
local T = require "harness"
local U = require "llama_util"
local recx = require "recx"
local llama = require "recx.llm.llama"
local tensor = recx.tensor

local function dir(name) return U.FIXTURES .. "llama_tiny_" .. name end

local SEQ = {{5, 17, 3, 44, 9, 23, 61, 2, 30, 12}, {40, 1, 8, 8, 63, 27, 14, 35, 6, 50}}

-- logits (B, T, V) of full forwards on the first n positions of each row of SEQ
local function full(m, rows, n)
  local ids = {}
  for i, r in ipairs(rows) do ids[i] = {table.unpack(SEQ[r], 1, n)} end
  return recx.no_grad(m.forward, m, U.ids(ids))
end

T.case("prefill 4 + 6 decode steps == full forward logits (1e-5), three architectures", function()
  for _, name in ipairs({"gqa", "qwen2", "mistral", "llama3"}) do
    local m = llama.load(dir(name))
    local ref = full(m, {1, 2}, 10) -- (2, 10, V)
    local cache = m:new_cache(2, 16)
    local pre = recx.no_grad(m.forward, m, U.ids({{table.unpack(SEQ[1], 1, 4)}, {table.unpack(SEQ[2], 1, 4)}}), {cache = cache})
    T.ok(U.maxdiff(pre, ref:narrow(2, 1, 4)) <= 1e-5, name .. ": prefill")
    local worst = 0
    for t = 5, 10 do
      local step = recx.no_grad(m.forward, m, U.ids({{SEQ[1][t]}, {SEQ[2][t]}}), {cache = cache, logits_at = "last"})
      worst = math.max(worst, U.maxdiff(step, ref:select(2, t)))
    end
    T.ok(worst <= 1e-5, name .. ": decode steps max diff " .. worst)
    T.eq(cache:length(), 10)
  end
end)

T.case("chunked appends (3 + 4 + 3) equal the full forward", function()
  local m = llama.load(dir("bias"))
  local ref = full(m, {1}, 10)
  local cache = m:new_cache(1, 10)
  local got = {}
  local s = 1
  for _, n in ipairs({3, 4, 3}) do
    got[#got + 1] = recx.no_grad(m.forward, m, U.ids({{table.unpack(SEQ[1], s, s + n - 1)}}), {cache = cache})
    s = s + n
  end
  T.ok(U.maxdiff(tensor.cat(got, 2), ref) <= 1e-5, "chunks")
  T.eq(cache:length(), 10)
end)

T.case("left-padded batch: prefill with a mask, decode with the mask given or remembered", function()
  local m = llama.load(dir("gqa"))
  -- row 1: SEQ[1] (10 tokens); row 2: 3 pads then SEQ[2][1..7]; the prompt is 6 columns
  local ref1, ref2 = full(m, {1}, 10), full(m, {2}, 7)
  for _, give_mask in ipairs({true, false}) do
    local cache = m:new_cache(2, 12)
    local prompt = U.ids({{table.unpack(SEQ[1], 1, 6)}, {0, 0, 0, SEQ[2][1], SEQ[2][2], SEQ[2][3]}})
    local mask = {{1, 1, 1, 1, 1, 1}, {0, 0, 0, 1, 1, 1}}
    local pre = recx.no_grad(m.forward, m, prompt, {cache = cache, attention_mask = U.ids(mask)})
    T.ok(U.maxdiff(pre:select(1, 1), ref1:select(1, 1):narrow(1, 1, 6)) <= 1e-5, "prefill row 1")
    T.ok(U.maxdiff(pre:select(1, 2):narrow(1, 4, 3), ref2:select(1, 1):narrow(1, 1, 3)) <= 1e-5, "prefill row 2")
    local worst = 0
    for k = 1, 4 do
      for _, row in ipairs(mask) do row[#row + 1] = 1 end
      local opts = {cache = cache, logits_at = "last"}
      if give_mask then opts.attention_mask = U.ids(mask) end
      local step = recx.no_grad(m.forward, m, U.ids({{SEQ[1][6 + k]}, {SEQ[2][3 + k]}}), opts)
      worst = math.max(worst, U.maxdiff(step:select(1, 1), ref1:select(1, 1):select(1, 6 + k)))
      worst = math.max(worst, U.maxdiff(step:select(1, 2), ref2:select(1, 1):select(1, 3 + k)))
    end
    T.ok(worst <= 1e-5, string.format("decode with mask %s: max diff %g", tostring(give_mask), worst))
  end
end)

T.case("reorder: rows selected (with repeats) continue as their own sequences", function()
  local m = llama.load(dir("qwen2"))
  local cache = m:new_cache(2, 12)
  recx.no_grad(m.forward, m, U.ids({{table.unpack(SEQ[1], 1, 5)}, {table.unpack(SEQ[2], 1, 5)}}), {cache = cache})
  cache:reorder(U.ids({1, 0, 1}))
  T.eq(cache:batch_size(), 3)
  local step = recx.no_grad(m.forward, m, U.ids({{SEQ[2][6]}, {SEQ[1][6]}, {7}}), {cache = cache, logits_at = "last"})
  local a, b = full(m, {2}, 6), full(m, {1}, 6)
  T.ok(U.maxdiff(step:select(1, 1), a:select(1, 1):select(1, 6)) <= 1e-5, "row 0 <- old row 1")
  T.ok(U.maxdiff(step:select(1, 2), b:select(1, 1):select(1, 6)) <= 1e-5, "row 1 <- old row 0")
  local c = recx.no_grad(m.forward, m, U.ids({{SEQ[2][1], SEQ[2][2], SEQ[2][3], SEQ[2][4], SEQ[2][5], 7}}))
  T.ok(U.maxdiff(step:select(1, 3), c:select(1, 1):select(1, 6)) <= 1e-5, "row 2 <- old row 1, other token")
  T.eq(cache:length(), 6)
end)

T.case("reset, buffers preallocated in the model dtype, errors", function()
  local m = llama.load(dir("mistral"), {dtype = "bf16"})
  local cache = m:new_cache(1, 4)
  T.eq(cache.k[1]:shape(), {1, 1, 4, 16})
  T.eq(cache.k[1]:dtype(), "bf16")
  T.eq(#cache.k, 2)
  T.eq(cache:nbytes(), 2 * 2 * 1 * 1 * 4 * 16 * 2)
  local a = recx.no_grad(m.forward, m, U.ids({{3, 4, 5}}), {cache = cache})
  T.raises("3 cached + 2 new positions exceed max_len 4", m.forward, m, U.ids({{1, 2}}), {cache = cache})
  T.raises("cache: expected batch size 1, got 2", m.forward, m, U.ids({{1}, {2}}), {cache = cache})
  T.eq(cache:length(), 3, "a refused call changes nothing")
  cache:reset()
  T.eq(cache:length(), 0)
  local b = recx.no_grad(m.forward, m, U.ids({{3, 4, 5}}), {cache = cache})
  T.eq(U.maxdiff(a, b), 0)
  T.raises("reorder: argument #2: rows must lie in [0, 1)", cache.reorder, cache, U.ids({1}))
  T.raises("reorder: argument #2: expected a 1-D i32/i64 tensor", cache.reorder, cache, tensor.zeros({1}))
  T.raises("cache: expected a cache from new_cache()", m.forward, m, U.ids({{1}}), {cache = {}})
  T.raises("attention_mask: expected shape (1, 4)", m.forward, m, U.ids({{1}}),
    {cache = cache, attention_mask = U.ids({{1}})})
end)

T.done()
