-- recx.text.tokenizer — the tokenizer every recipe uses: byte-level BPE (SmolLM2, Llama-3, Qwen2)
-- and SentencePiece-style BPE (Llama-2, Mistral, TinyLlama) from the C core (core.text), and the
-- llama2.c tokenizer (recx.llm.sp_tokenizer) behind the same interface.
--
-- Owns: finding the tokenizer of a path (tokenizer.json, a folder holding one with its
-- tokenizer_config.json, a .gguf through recx.gguf, a llama2.c tokenizer.bin), the special ids
-- and add_bos from the config, and the Lua calling conventions (option tables, 0-based ids).
--   local Tok = require "recx.text.tokenizer"
--   local tok = Tok.load("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
--   local ids = tok:encode("Hello", {add_special = false, parse_special = true})
--   local text = tok:decode(ids, {skip_special = false})
--   local new = tok:add_special_tokens({"<user>", "<item>"})   -- appended ids, never split
local core = require "recx.core"
local fs = require "recx.util.fs"

local M = {}
M.__index = M

local function fail(fmt, ...) error(string.format("tokenizer: " .. fmt, ...), 0) end

local function is_dir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close() return true end
  return false
end

local function read_json(path)
  if not pcall(require, "cjson") then fail("reading %s needs lua-cjson", path) end
  local value, err = fs.read_json(path)
  if err then fail("%s: invalid JSON: %s", path, err) end
  return value
end

-- Copies the C tokenizer's settings into the Lua fields.
local function refresh(self)
  local info = self._t:info()
  self.vocab_size = info.vocab_size
  self.bos_id, self.eos_id, self.unk_id, self.pad_id = info.bos_id, info.eos_id, info.unk_id, info.pad_id
  if self._bos_override == nil then self.add_bos = info.add_bos end
end

local function wrap(handle)
  local self = setmetatable({_t = handle}, M)
  refresh(self)
  return self
end

-- tokenizer_config.json: bos/eos/unk/pad tokens (strings or {content = ...}) and add_bos_token.
local function apply_config(self, cfg)
  local function name(v)
    if type(v) == "table" then return v.content end
    if type(v) == "string" then return v end
    return nil
  end
  for role, key in pairs({bos = "bos_token", eos = "eos_token", unk = "unk_token", pad = "pad_token"}) do
    local s = name(cfg[key])
    local id = s and self._t:token_to_id(s)
    if id then self._t:set_special_id(role, id) end
  end
  refresh(self)
  if type(cfg.add_bos_token) == "boolean" and cfg.add_bos_token ~= self.add_bos then
    self._bos_override = cfg.add_bos_token
    self.add_bos = cfg.add_bos_token
  end
end

-- tokenizer.json text or file (with the tokenizer_config.json beside it when present).
function M.from_json_file(path)
  local self = wrap(core.text.load_json(path))
  local dir = path:match("^(.*)/[^/]*$") or "."
  local cfg = dir .. "/tokenizer_config.json"
  if fs.exists(cfg) then apply_config(self, read_json(cfg)) end
  return self
end

function M.from_json_string(text, name) return wrap(core.text.from_json(text, name)) end

-- metadata: g:metadata() of recx.gguf (keys as in the file, "tokenizer.ggml.tokens", ...).
function M.from_gguf_metadata(metadata) return wrap(core.text.from_gguf(metadata)) end

function M.from_gguf(path)
  local g <close> = core.gguf.open(path)
  return M.from_gguf_metadata(g:metadata())
end

-- ---- llama2.c tokenizer.bin behind the same interface --------------------------------------
local L2 = {}
L2.__index = L2

function M.from_llama2c(path, vocab_size)
  if math.type(vocab_size) ~= "integer" or vocab_size <= 0 then
    fail("from_llama2c: argument #2: expected the vocabulary size (a positive integer), got %s", tostring(vocab_size))
  end
  local sp = require("recx.llm.sp_tokenizer").load(path, vocab_size)
  return setmetatable({_sp = sp, _added = {}, _added_ids = {}, vocab_size = vocab_size, bos_id = sp.BOS,
                       eos_id = sp.EOS, unk_id = 0, add_bos = true}, L2)
end

function L2:encode(text, opts)
  opts = opts or {}
  local out = {}
  if opts.add_special then out[1] = self.bos_id end
  local pos, parse = 1, opts.parse_special ~= false
  while pos <= #text do
    local best_s, best_e, best_tok
    if parse then
      for _, tok in ipairs(self._added) do
        local s, e = text:find(tok, pos, true)
        if s and (not best_s or s < best_s or (s == best_s and e > best_e)) then best_s, best_e, best_tok = s, e, tok end
      end
    end
    local piece = text:sub(pos, (best_s or #text + 1) - 1)
    if #piece > 0 then
      for _, id in ipairs(self._sp:encode(piece, {bos = false})) do out[#out + 1] = id end
    end
    if not best_s then break end
    out[#out + 1] = self._added_ids[best_tok]
    pos = best_e + 1
  end
  return out
end

function L2:decode(ids, opts)
  local skip = opts and opts.skip_special
  local parts, plain = {}, {}
  local function flush()
    if #plain > 0 then parts[#parts + 1] = self._sp:decode(plain) end
    plain = {}
  end
  for _, id in ipairs(ids) do
    local added = self._added[id - self._sp.vocab_size + 1]
    if id >= self._sp.vocab_size and added then
      flush()
      if not skip then parts[#parts + 1] = added end
    elseif not (skip and self:is_special(id)) then
      plain[#plain + 1] = id
    end
  end
  flush()
  return table.concat(parts)
end

function L2:token_to_id(s) return self._added_ids[s] or self._sp.ids[s] end

function L2:id_to_token(id)
  if id >= self._sp.vocab_size then return self._added[id - self._sp.vocab_size + 1] end
  return self._sp.pieces[id]
end

function L2:is_special(id) return id == self.bos_id or id == self.eos_id or id >= self._sp.vocab_size end

function L2:add_special_tokens(list)
  local ids = {}
  for i, s in ipairs(list) do
    local id = self:token_to_id(s)
    if not id then
      id = self._sp.vocab_size + #self._added
      self._added[#self._added + 1] = s
      self._added_ids[s] = id
    end
    ids[i] = id
  end
  self.vocab_size = self._sp.vocab_size + #self._added
  return ids
end

function L2:encode_batch(texts, opts)
  local out = {}
  for i, t in ipairs(texts) do out[i] = self:encode(t, opts) end
  return out
end

-- ---- loading by path ------------------------------------------------------------------------

-- path: a tokenizer.json, a folder holding one, a .gguf, or a llama2.c tokenizer .bin (then
-- opts.vocab_size is required).
function M.load(path, opts)
  opts = opts or {}
  if type(path) ~= "string" then fail("load: argument #1: expected a path, got %s", type(path)) end
  if path:match("%.gguf$") then return M.from_gguf(path) end
  if path:match("%.bin$") then return M.from_llama2c(path, opts.vocab_size) end
  if is_dir(path) then
    local json = path .. "/tokenizer.json"
    if not fs.exists(json) then fail("load: no tokenizer.json in folder '%s'", path) end
    return M.from_json_file(json)
  end
  if not fs.exists(path) then fail("load: cannot open '%s'", path) end
  return M.from_json_file(path)
end

-- ---- methods --------------------------------------------------------------------------------

-- opts: add_special (default false: BOS/EOS per the post-processor or config), parse_special
-- (default true: special tokens in the text are matched). Returns 0-based ids.
function M:encode(text, opts)
  opts = opts or {}
  if type(text) ~= "string" then fail("encode: argument #1: expected a string, got %s", type(text)) end
  local add, parse = opts.add_special == true, opts.parse_special ~= false
  if self._bos_override == nil then return self._t:encode(text, add, parse) end
  -- tokenizer_config.json's add_bos_token overrides the post-processor's BOS
  local ids = self._t:encode(text, false, parse)
  if add then
    if self._bos_override and self.bos_id then table.insert(ids, 1, self.bos_id) end
    if self._t:info().add_eos and self.eos_id then ids[#ids + 1] = self.eos_id end
  end
  return ids
end

function M:encode_batch(texts, opts)
  local out = {}
  for i, t in ipairs(texts) do out[i] = self:encode(t, opts) end
  return out
end

-- opts: skip_special (default false). Bytes exact: invalid UTF-8 in pieces is kept.
function M:decode(ids, opts)
  return self._t:decode(ids, opts and opts.skip_special == true)
end

function M:token_to_id(s) return self._t:token_to_id(s) end
function M:id_to_token(id) return self._t:id_to_token(id) end
function M:is_special(id) return self._t:is_special(id) end

function M:add_special_tokens(list)
  if type(list) ~= "table" then fail("add_special_tokens: argument #1: expected a list of strings, got %s", type(list)) end
  local ids = self._t:add_special(list)
  refresh(self)
  return ids
end

function M:close() self._t:close() end
M.__close = M.close

return M
