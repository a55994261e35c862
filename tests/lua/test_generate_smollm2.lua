-- test_generate_smollm2.lua — generation with the real SmolLM2-135M-Instruct GGUF on one ChatML
-- question (prompt ids from tests/fixtures/generate_smollm2.json): the greedy answer and the 5-beam
-- answers (num_return_sequences = 5, 16 new tokens) against transformers' generate() on the same
-- GGUF de-quantised to f32 (make_generate_fixtures.py --smollm2), and a greedy answer streamed
-- with on_token equal to the non-streaming one. Skips when the GGUF or recx.gguf is absent.
local T = require "harness"
local recx = require "recx"
local G = require "generate_util"

local path, why = G.smollm2_path()
if not path then T.skip(why) end
if not recx.gguf then T.skip("recx.gguf is not in this build") end

local gen = require "recx.llm.generate"
local llama = require "recx.llm.llama"

local doc = G.fixture("generate_smollm2.json")
local ints = G.ints

local model = llama.load(path)
local prompt = ints(doc.prompt)

T.case("greedy ChatML answer equals transformers'; streaming equals non-streaming", function()
  local want = ints(doc.greedy)
  local out = gen.generate(model, {prompt}, {max_new_tokens = 32})[1]
  T.eq(out, want)
  T.eq(out[#out], 2, "ends at <|im_end|>")
  local streamed = {}
  local got = gen.generate(model, {prompt}, {max_new_tokens = 32, on_token = function(step, ids)
    T.eq(step, #streamed + 1)
    streamed[#streamed + 1] = ids[1]
  end})[1]
  T.eq(streamed, want)
  T.eq(got, want)
  -- past the EOS (min_new_tokens bans it): a longer stream, still equal
  local long = gen.generate(model, {prompt}, {max_new_tokens = 16, min_new_tokens = 16})[1]
  local s2 = {}
  gen.generate(model, {prompt}, {max_new_tokens = 16, min_new_tokens = 16, on_token = function(_, ids)
    s2[#s2 + 1] = ids[1]
  end})
  T.eq(#long, 16)
  T.eq(s2, long)
end)

T.case("5 beams, 5 returned: transformers' sequences and scores", function()
  local out, scores = gen.generate(model, {prompt}, {max_new_tokens = 16, num_beams = 5, num_return_sequences = 5})
  local want = ints(doc.beam_sequences)
  T.eq(#out, 5)
  for i = 1, 5 do T.eq(out[i], want[i], "beam " .. i) end
  T.near(scores, doc.beam_scores, 1e-4, "scores")
end)

T.done()
