-- test_chat.lua — recx.chat: render_text against the Jinja renderings that transformers'
-- apply_chat_template wrote (tests/fixtures/chat_templates.json, by make_chat_fixtures.py: the
-- SmolLM2 GGUF's own template, Meta's Llama-3 template, FastChat's Mistral and Vicuna v1.1
-- formats, Qwen2.5's ChatML), and render's ids / assistant mask with small tokenizers written
-- here (bytes plus special tokens, and one that merges across a mask boundary): the ids must be
-- the whole text's encoding and the masked tokens must decode to exactly the answers and their
-- end-of-turn tokens.
local T = require "harness"
local chat = require "recx.chat"
local cjson = require "cjson"

local f = assert(io.open("../fixtures/chat_templates.json", "rb"))
local doc = cjson.decode(f:read("a"))
f:close()

local NAMES = {smollm2 = "chatml", llama3 = "llama3", mistral = "mistral", vicuna = "vicuna", qwen2 = "qwen2"}

T.case("render_text equals the Jinja templates (5 templates x 6 conversations x generation prompt)", function()
  T.eq(#doc.expected, 60)
  for _, e in ipairs(doc.expected) do
    local conv = doc.conversations[math.tointeger(e.conversation)]
    local got = chat.render_text(NAMES[e.template], conv, {add_generation_prompt = e.add_generation_prompt})
    T.eq(got, e.text, string.format("%s conversation %d gen %s", e.template, e.conversation,
      tostring(e.add_generation_prompt)))
  end
  -- the SmolLM2 GGUF's template is the one chatml.lua transcribes (default system message inside)
  T.ok(doc.templates.smollm2:find(chat.templates.chatml.default_system, 1, true) ~= nil)
end)

-- A tokenizer over bytes (id 100 + byte) and the templates' special tokens (ids 1..8); with
-- merge_nl_space, "\n " is one token (id 99), so a boundary between "\n" and " " falls inside it.
local SPECIALS = {"<|im_start|>", "<|im_end|>", "<|begin_of_text|>", "<|start_header_id|>",
  "<|end_header_id|>", "<|eot_id|>", "<s>", "</s>"}
local function byte_tok(merge_nl_space)
  local tok = {bos_id = 7}
  function tok:encode(text, opts)
    assert(opts.parse_special == true and opts.add_special == false)
    local ids, i = {}, 1
    while i <= #text do
      local hit
      for id, s in ipairs(SPECIALS) do
        if text:sub(i, i + #s - 1) == s then hit = {id, #s} break end
      end
      if hit then
        ids[#ids + 1], i = hit[1], i + hit[2]
      elseif merge_nl_space and text:sub(i, i + 1) == "\n " then
        ids[#ids + 1], i = 99, i + 2
      else
        ids[#ids + 1], i = 100 + text:byte(i), i + 1
      end
    end
    return ids
  end
  function tok:decode(ids)
    local out = {}
    for k, id in ipairs(ids) do
      out[k] = id == 99 and "\n " or (id >= 100 and string.char(id - 100) or SPECIALS[id])
    end
    return table.concat(out)
  end
  return tok
end

local function masked_text(tok, ids, mask)
  local keep = {}
  for i, id in ipairs(ids) do if mask[i] == 1 then keep[#keep + 1] = id end end
  return tok:decode(keep)
end

T.case("render: ids are the whole text's encoding; masked tokens are answers + end-of-turn", function()
  local tok = byte_tok(false)
  for _, name in ipairs({"chatml", "llama3", "mistral", "vicuna", "qwen2"}) do
    local t = chat.templates[name]
    for ci, conv in ipairs(doc.conversations) do
      for _, gen in ipairs({false, true}) do
        local label = string.format("%s conversation %d gen %s", name, ci, tostring(gen))
        local ids, mask = chat.render(t, conv, tok, {add_generation_prompt = gen})
        T.eq(ids, tok:encode(chat.render_text(t, conv, {add_generation_prompt = gen}),
          {parse_special = true, add_special = false}), label .. ": ids")
        T.eq(#mask, #ids, label .. ": mask length")
        local want = {}
        for _, m in ipairs(conv) do
          if m.role == "assistant" then
            local r = t.roles.assistant
            local content = t.trim and m.content:gsub("^%s+", ""):gsub("%s+$", "") or m.content
            want[#want + 1] = (r.lead or "") .. content .. r.eot
          end
        end
        T.eq(masked_text(tok, ids, mask), table.concat(want), label .. ": masked text")
      end
    end
  end
end)

T.case("render: a token merged across a boundary stays unmasked; add_bos doubles Llama-3's BOS", function()
  local tok = byte_tok(true)
  local conv = {{role = "user", content = "q"}, {role = "assistant", content = " Answer."}}
  local ids, mask = chat.render("chatml", conv, tok)
  T.eq(masked_text(tok, ids, mask), "Answer.<|im_end|>")
  -- the "\n " token straddles "assistant\n" | " Answer." and is not masked
  local pos
  for i = #ids, 1, -1 do if ids[i] == 99 and mask[i] == 0 then pos = i break end end
  T.ok(pos ~= nil and mask[pos + 1] == 1, "the straddling token is unmasked and the next one masked")
  local plain = byte_tok(false)
  local l3 = {{role = "user", content = "q"}, {role = "assistant", content = "a"}}
  local one = chat.render("llama3", l3, plain)
  local two, m2 = chat.render("llama3", l3, plain, {add_bos = true})
  T.eq(one[1], 3, "<|begin_of_text|> from the text")
  T.eq({two[1], two[2]}, {7, 3}, "tokenizer BOS then <|begin_of_text|> (SPEC 5.4)")
  T.eq(#two, #one + 1)
  T.eq(m2[1], 0)
end)

T.case("system messages: default, override, none; Mistral merges; derive", function()
  local conv = {{role = "user", content = "Hi"}}
  T.eq(chat.render_text("chatml", conv, {system = "Be kind."}), "<|im_start|>system\nBe kind.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
  T.eq(chat.render_text("chatml", conv, {system = false}), "<|im_start|>user\nHi<|im_end|>\n")
  T.eq(chat.render_text("qwen2", conv), "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. "
    .. "You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n")
  T.eq(chat.render_text("llama3", conv, {add_generation_prompt = true}),
    "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
  T.eq(chat.render_text("mistral", {{role = "system", content = "S"}, {role = "user", content = "Q"}},
    {add_generation_prompt = true}), "<s>[INST] S\nQ [/INST]")
  local mine = chat.derive(chat.templates.vicuna, {default_system = "Short."})
  T.eq(chat.render_text(mine, conv, {add_generation_prompt = true}), "<s>Short. USER: Hi ASSISTANT:")
  T.eq(chat.templates.vicuna.default_system:sub(1, 14), "A chat between", "derive leaves the base alone")
end)

T.case("errors", function()
  T.raises("chat.render_text: argument #1: unknown template 'alpaca'", chat.render_text, "alpaca", {})
  T.raises("message #1: role 'tool' is not supported by template 'mistral'", chat.render_text, "mistral",
    {{role = "tool", content = "x"}})
  T.raises("message #2: expected {role = string, content = string}", chat.render_text, "chatml",
    {{role = "user", content = "x"}, {role = "assistant"}})
  T.raises("needs a user message after the system message", chat.render_text, "mistral",
    {{role = "system", content = "s"}, {role = "assistant", content = "a"}})
  T.raises("unknown option 'add_generation'", chat.render_text, "chatml", {}, {add_generation = true})
  T.raises("argument #3: expected a tokenizer", chat.render, "chatml", {}, nil)
  local tok = byte_tok(false)
  tok.bos_id = nil
  T.raises("the tokenizer has no bos_id", chat.render, "chatml", {{role = "user", content = "x"}}, tok, {add_bos = true})
end)

T.done()
