-- test_chat_smollm2.lua — chat templates and generation with the real SmolLM2-135M-Instruct GGUF:
-- recx.chat.render's ids and assistant mask under the GGUF's tokenizer against the ids transformers'
-- tokenizer gives for the same rendered text and a mask from its character offsets
-- (tests/fixtures/chat_templates.json, key smollm2_ids), then a greedy ChatML answer streamed
-- token by token through on_token, which must equal the non-streaming answer.
-- Skips when the GGUF, recx.gguf or recx.text.tokenizer is absent.
local T = require "harness"
local recx = require "recx"

local NAME = "SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
local path = T.models_dir() .. "/" .. NAME
local probe = io.open(path, "rb")
if not probe then T.skip(path .. " not found") end
probe:close()
if not recx.gguf then T.skip("recx.gguf is not in this build") end
local has_tok, Tok = pcall(require, "recx.text.tokenizer")
if not has_tok then T.skip("recx.text.tokenizer is not available: " .. tostring(Tok)) end

local chat = require "recx.chat"
local gen = require "recx.llm.generate"
local llama = require "recx.llm.llama"
local cjson = require "cjson"

local f = assert(io.open("../fixtures/chat_templates.json", "rb"))
local doc = cjson.decode(f:read("a"))
f:close()

local function ints(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = math.tointeger(v) end
  return out
end

local tok = Tok.load(path)

T.case("ChatML ids and assistant mask equal transformers' tokenizer + offsets (12 renderings)", function()
  T.eq(#doc.smollm2_ids, 12)
  for _, e in ipairs(doc.smollm2_ids) do
    local conv = doc.conversations[math.tointeger(e.conversation)]
    local ids, mask = chat.render("chatml", conv, tok, {add_generation_prompt = e.add_generation_prompt})
    local label = string.format("conversation %d gen %s", e.conversation, tostring(e.add_generation_prompt))
    T.eq(ids, ints(e.ids), label .. ": ids")
    T.eq(mask, ints(e.mask), label .. ": mask")
  end
end)

T.case("a greedy ChatML answer streamed with on_token equals the non-streaming one", function()
  local model = llama.load(path)
  local ids = chat.render("chatml", {{role = "user", content = "What is the capital of France?"}}, tok,
    {add_generation_prompt = true})
  local want = gen.generate(model, {ids}, {max_new_tokens = 24})[1]
  local streamed, pieces, calls = {}, {}, 0
  local got = gen.generate(model, {ids}, {max_new_tokens = 24, on_token = function(step, row)
    calls = calls + 1
    T.eq(step, calls)
    streamed[#streamed + 1] = row[1]
    pieces[#pieces + 1] = tok:decode({row[1]})
  end})[1]
  T.eq(got, want)
  T.eq(streamed, want)
  T.eq(calls, #want)
  T.eq(table.concat(pieces), tok:decode(want), "streamed pieces (byte-level) join to the answer")
  T.ok(#want == 24 or want[#want] == 2, "ends at <|im_end|> (id 2) or after 24 tokens")
  local text = tok:decode(want, {skip_special = true})
  T.ok(#text > 0, "a non-empty answer")
  print("  answer: " .. text)
end)

T.done()
