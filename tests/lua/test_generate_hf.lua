-- test_generate_hf.lua — recx.llm.generate against Hugging Face transformers' generate() on the
-- same toy LM (gen_toy.lua; Python copy in tests/fixtures/make_generate_fixtures.py, which wrote
-- tests/fixtures/generate_hf.json with transformers 5.24): beam search with num_beams = 5 and
-- num_return_sequences = 5 for several length penalties and all early_stopping modes, deeper and
-- wider searches, min_new_tokens + bad words + repetition penalty in beams, several stop ids, and
-- greedy with every processor. Sequences must match exactly, sequence scores within 1e-5.
local T = require "harness"
local toy = require "gen_toy"
local gen = require "recx.llm.generate"
local cjson = require "cjson"

local f = assert(io.open("../fixtures/generate_hf.json", "rb"))
local doc = cjson.decode(f:read("a"))
f:close()

-- cjson gives floats: ids back to integers, recursively.
local function ints(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = ints(x) end
    return out
  end
  return type(v) == "number" and math.tointeger(v) or v
end

for i, c in ipairs(doc.cases) do
  local opts = {}
  for k, v in pairs(c.opts) do
    opts[k] = (k == "length_penalty" or k == "repetition_penalty") and v or ints(v)
  end
  local label = string.format("case %d: vocab %d seed %d %s", i, c.vocab, c.seed, cjson.encode(c.opts))
  T.case(label, function()
    local m = toy.new{vocab = math.tointeger(c.vocab), eos = math.tointeger(c.eos), pad = math.tointeger(c.eos),
      seed = math.tointeger(c.seed), scale = c.scale}
    local out, scores = gen.generate(m, ints(c.prompts), opts)
    local want = ints(c.hf_sequences)
    T.eq(#out, #want, "number of sequences")
    for j = 1, #want do T.eq(out[j], want[j], "sequence " .. j) end
    if c.hf_scores then T.near(scores, c.hf_scores, 1e-5, "scores") end
  end)
end

T.done()
