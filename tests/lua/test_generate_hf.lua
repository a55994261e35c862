-- test_generate_hf.lua — recx.llm.generate against Hugging Face transformers' generate() on the
-- same toy LM (gen_toy.lua; Python copy in tests/fixtures/make_generate_fixtures.py, which wrote
-- tests/fixtures/generate_hf.json with transformers 5.24): beam search with num_beams = 5 and
-- num_return_sequences = 5 for several length penalties and all early_stopping modes, deeper and
-- wider searches, min_new_tokens + bad words + repetition penalty in beams, several stop ids, and
-- greedy with every processor. Sequences must match exactly, sequence scores within 1e-5.
local T = require "harness"
local toy = require "gen_toy"
local G = require "generate_util"
local cjson = require "cjson"

local doc = G.fixture("generate_hf.json")

for i, c in ipairs(doc.cases) do
  local label = string.format("case %d: vocab %d seed %d %s", i, c.vocab, c.seed, cjson.encode(c.opts))
  T.case(label, function()
    local m = toy.new{vocab = math.tointeger(c.vocab), eos = math.tointeger(c.eos), pad = math.tointeger(c.eos),
      seed = math.tointeger(c.seed), scale = c.scale}
    G.check_case(m, c, 1e-5)
  end)
end

T.done()
