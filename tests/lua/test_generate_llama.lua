-- test_generate_llama.lua — recx.llm.generate with a real (tiny, random) Llama and its KV cache:
-- tests/fixtures/llama_tiny_gqa (written by make_llama_fixtures.py). Greedy and beam search on a
-- left-padded batch against Hugging Face transformers' generate() on the same weights
-- (tests/fixtures/generate_hf.json, key llama_tiny_gqa, from make_generate_fixtures.py), greedy
-- with the cache against a cacheless step-by-step argmax over full forwards, and streaming.
local T = require "harness"
local recx = require "recx"
local gen = require "recx.llm.generate"
local cjson = require "cjson"
local llama = require "recx.llm.llama"
local G = require "generate_util"
local tensor = recx.tensor

local doc = G.fixture("generate_hf.json")
local m = llama.load("../fixtures/llama_tiny_gqa")

for i, c in ipairs(doc.llama_tiny_gqa) do
  T.case("transformers' generate on the tiny Llama, case " .. i .. ": " .. cjson.encode(c.opts), function()
    G.check_case(m, c, 1e-4)
  end)
end

T.case("greedy with the cache equals argmax over cacheless full forwards", function()
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local out = gen.generate(m, prompts, {max_new_tokens = 8, stop = {}})
  for b, p in ipairs(prompts) do
    local seq = {table.unpack(p)}
    local want = {}
    recx.no_grad(function()
      for _ = 1, 8 do
        local logits = m:forward(tensor.from({seq}, {dtype = "i64"})) -- (1, T, V)
        local id = logits:select(2, -1):argmax():item()
        seq[#seq + 1], want[#want + 1] = id, id
      end
    end)
    T.eq(out[b], want, "prompt " .. b)
  end
end)

T.case("streaming equals non-streaming", function()
  local prompts = {{1, 5, 9}, {1, 7, 7, 7, 7}}
  local want = gen.generate(m, prompts, {max_new_tokens = 10})
  local got = {{}, {}}
  gen.generate(m, prompts, {max_new_tokens = 10, on_token = function(_, ids)
    for r, id in ipairs(ids) do if id then got[r][#got[r] + 1] = id end end
  end})
  T.eq(got, want)
end)

T.done()
