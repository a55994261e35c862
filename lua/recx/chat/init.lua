-- recx.chat — chat templates as plain Lua tables (one file each, editable without rebuilding) and
-- their rendering to text, or to token ids with the assistant-token mask used for training.
--
-- Owns: render_text (template + messages -> string, equal to the template's Jinja original),
-- render (-> ids, assistant_mask through a tokenizer), the registry of templates, derive.
-- A template table (see chatml.lua, llama3.lua, mistral.lua, vicuna.lua):
--   name               for messages
--   bos                text at the very start ("" for none)
--   default_system     system message used when the conversation does not start with one (nil: none)
--   merge_system       when set, a system message is not a turn of its own: its content and this
--                      joiner are put in front of the first user message (Mistral)
--   trim               strip leading/trailing whitespace (ASCII) of every content (Llama-3)
--   roles[role]        {head =, lead =, eot =, tail =}: a message renders as
--                      head .. lead .. content .. eot .. tail (lead, eot may be absent)
--   generation_prompt  appended when opts.add_generation_prompt
-- The assistant mask (SPEC 5.4) is 1 on the tokens of lead .. content .. eot of every assistant
-- message, 0 elsewhere (headers, other roles, the generation prompt).
-- Use:
--   local chat = require "recx.chat"
--   local text = chat.render_text("chatml", {{role = "user", content = "Hi"}}, {add_generation_prompt = true})
--   local ids, mask = chat.render(chat.templates.llama3, messages, tok, {add_bos = true})
local M = {}

M.templates = {
  chatml = require "recx.chat.chatml",
  llama3 = require "recx.chat.llama3",
  mistral = require "recx.chat.mistral",
  vicuna = require "recx.chat.vicuna",
}

-- derive(base, fields) -> a copy of template `base` with `fields` replaced (roles shared).
function M.derive(base, fields)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(fields) do t[k] = v end
  return t
end

-- Qwen2.5 Instruct: ChatML with its own default system message.
M.templates.qwen2 = M.derive(M.templates.chatml, {name = "qwen2",
  default_system = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."})

local OPTIONS = {add_generation_prompt = true, system = true, add_bos = true}

local function resolve(fn, template)
  if type(template) == "string" then
    local t = M.templates[template]
    if not t then error(string.format("chat.%s: argument #1: unknown template '%s'", fn, template), 3) end
    return t
  end
  if type(template) ~= "table" or type(template.roles) ~= "table" then
    error(string.format("chat.%s: argument #1: expected a template table or name, got %s", fn, type(template)), 3)
  end
  return template
end

local function trim(s) return (s:gsub("^%s+", ""):gsub("%s+$", "")) end

-- The rendered conversation as pieces {text =, assistant = bool}.
local function pieces(fn, t, messages, opts)
  if type(messages) ~= "table" then
    error(string.format("chat.%s: argument #2: expected a list of messages, got %s", fn, type(messages)), 3)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if not OPTIONS[k] then error(string.format("chat.%s: unknown option '%s'", fn, tostring(k)), 3) end
  end
  local msgs = {}
  for i, m in ipairs(messages) do
    if type(m) ~= "table" or type(m.role) ~= "string" or type(m.content) ~= "string" then
      error(string.format("chat.%s: argument #2: message #%d: expected {role = string, content = string}", fn, i), 3)
    end
    local is_merged_system = m.role == "system" and t.merge_system
    if not t.roles[m.role] and not is_merged_system then
      error(string.format("chat.%s: argument #2: message #%d: role '%s' is not supported by template '%s'",
        fn, i, m.role, t.name or "?"), 3)
    end
    msgs[i] = {role = m.role, content = t.trim and trim(m.content) or m.content}
  end
  local system = opts.system
  if system == nil then system = t.default_system end
  if (msgs[1] == nil or msgs[1].role ~= "system") and system and not t.merge_system then
    table.insert(msgs, 1, {role = "system", content = t.trim and trim(system) or system})
  end
  if t.merge_system and msgs[1] and msgs[1].role == "system" then
    local sys = table.remove(msgs, 1)
    if not msgs[1] or msgs[1].role ~= "user" then
      error(string.format("chat.%s: argument #2: template '%s' needs a user message after the system message",
        fn, t.name or "?"), 3)
    end
    msgs[1] = {role = "user", content = sys.content .. t.merge_system .. msgs[1].content}
  end
  local out = {{text = t.bos or "", assistant = false}}
  for _, m in ipairs(msgs) do
    local r = t.roles[m.role]
    local body = (r.lead or "") .. m.content .. (r.eot or "")
    out[#out + 1] = {text = r.head or "", assistant = false}
    out[#out + 1] = {text = body, assistant = m.role == "assistant"}
    out[#out + 1] = {text = r.tail or "", assistant = false}
  end
  if opts.add_generation_prompt then out[#out + 1] = {text = t.generation_prompt, assistant = false} end
  return out
end

-- render_text(template, messages [, {add_generation_prompt =, system =}]) -> string.
-- template: a table or a name in chat.templates; system: a string replacing the default system
-- message, or false for none.
function M.render_text(template, messages, opts)
  local t = resolve("render_text", template)
  local parts = {}
  for i, p in ipairs(pieces("render_text", t, messages, opts)) do parts[i] = p.text end
  return table.concat(parts)
end

local function common_prefix(a, b)
  local n = 0
  while n < #a and n < #b and a[n + 1] == b[n + 1] do n = n + 1 end
  return n
end

-- render(template, messages, tok [, opts]) -> ids, assistant_mask (Lua lists of equal length).
-- ids = tok:encode(rendered text, {parse_special = true}) (with tok.bos_id in front when
-- opts.add_bos). Mask boundaries are found by encoding the text up to each boundary and taking
-- the common prefix with ids; only tokens wholly inside an answer are masked in (a token that
-- BPE merged across a boundary stays 0), as a character-offset mask would do.
function M.render(template, messages, tok, opts)
  local t = resolve("render", template)
  if type(tok) ~= "table" or type(tok.encode) ~= "function" then
    error("chat.render: argument #3: expected a tokenizer with an encode method", 2)
  end
  local parts = pieces("render", t, messages, opts)
  local texts = {}
  for i, p in ipairs(parts) do texts[i] = p.text end
  local text = table.concat(texts)
  local enc = {parse_special = true, add_special = false}
  local ids = tok:encode(text, enc)
  local mask = {}
  for i = 1, #ids do mask[i] = 0 end
  local pos = 0 -- characters before the current piece
  for _, p in ipairs(parts) do
    if p.assistant and #p.text > 0 then
      local before = tok:encode(text:sub(1, pos), enc)
      local first = common_prefix(before, ids)
      if #before > first then first = first + 1 end -- a token across the start stays unmasked
      local last = common_prefix(tok:encode(text:sub(1, pos + #p.text), enc), ids)
      for i = first + 1, last do mask[i] = 1 end
    end
    pos = pos + #p.text
  end
  if opts and opts.add_bos then
    if tok.bos_id == nil then error("chat.render: option 'add_bos': the tokenizer has no bos_id", 2) end
    table.insert(ids, 1, tok.bos_id)
    table.insert(mask, 1, 0)
  end
  return ids, mask
end

return M
