-- generate_util.lua — shared by the test_generate_*.lua tests: reading the JSON fixtures that
-- make_generate_fixtures.py wrote from transformers' generate(), ids back to integers, running
-- one fixture case through recx.llm.generate, and finding the default model.
local T = require "harness"
local cjson = require "cjson"
local gen = require "recx.llm.generate"

local M = {}

-- The decoded JSON fixture tests/fixtures/<name>.
function M.fixture(name)
  local f = assert(io.open("../fixtures/" .. name, "rb"))
  local doc = cjson.decode(f:read("a"))
  f:close()
  return doc
end

-- cjson gives floats: ids back to integers, recursively.
local function ints(v)
  if type(v) == "table" then
    local out = {}
    for k, x in pairs(v) do out[k] = ints(x) end
    return out
  end
  return type(v) == "number" and math.tointeger(v) or v
end
M.ints = ints

-- A fixture case's generate() options: the penalties stay floats, the rest become integers.
function M.opts(case_opts)
  local opts = {}
  for k, v in pairs(case_opts) do
    opts[k] = (k == "length_penalty" or k == "repetition_penalty") and v or ints(v)
  end
  return opts
end

-- Generates with model m from the case's prompts and options; the sequences must equal
-- c.hf_sequences and the sequence scores (when the case has them) c.hf_scores within tol.
function M.check_case(m, c, tol)
  local out, scores = gen.generate(m, ints(c.prompts), M.opts(c.opts))
  local want = ints(c.hf_sequences)
  T.eq(#out, #want, "number of sequences")
  for j = 1, #want do T.eq(out[j], want[j], "sequence " .. j) end
  if c.hf_scores then T.near(scores, c.hf_scores, tol, "scores") end
end

-- The path of the default model's GGUF, or nil and why not (for T.skip in the test file).
function M.smollm2_path()
  local path = T.models_dir() .. "/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
  local probe = io.open(path, "rb")
  if not probe then return nil, path .. " not found" end
  probe:close()
  return path
end

return M
