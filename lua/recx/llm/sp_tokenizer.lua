-- recx.llm.sp_tokenizer — the llama2.c tokenizer (tokenizer.bin / tok512.bin format).
--
-- Owns: reading the file (int32 max_token_length, then per token: float32 score, int32 length,
-- the piece bytes), encoding as llama2.c's run.c does (optional BOS = 1, a dummy prefix " "
-- when the text is not empty, one token per UTF-8 code point found in the vocabulary, else byte
-- fallback tokens 3 + byte (`<0x00>`..`<0xFF>`), then repeatedly merging the adjacent pair whose
-- concatenation is a piece with the highest score, the leftmost on ties; optional EOS = 2) and
-- decoding (a leading space is stripped from the piece following BOS; `<0xNN>` pieces become
-- the byte). Token ids are 0-based, as in the checkpoint.
-- Use:
--   local Tok = require "recx.llm.sp_tokenizer"
--   local tok = Tok.load("tok512.bin", 512)
--   local ids = tok:encode("Once upon a time", {bos = true})   -- {1, ...}
--   local text = tok:decode(ids)
local M = {}
M.__index = M

M.BOS, M.EOS = 1, 2

local function fail(path, msg) error(string.format("sp_tokenizer: %s: %s", path, msg), 0) end

-- vocab_size: the number of records (the checkpoint's vocab_size).
function M.load(path, vocab_size)
  local f, err = io.open(path, "rb")
  if not f then fail(path, "cannot open: " .. tostring(err)) end
  local data = f:read("a")
  f:close()
  if #data < 4 then fail(path, string.format("expected at least 4 bytes, got %d", #data)) end
  local self = setmetatable({pieces = {}, scores = {}, ids = {}}, M)
  local pos
  self.max_token_length, pos = string.unpack("<i4", data)
  for id = 0, vocab_size - 1 do
    if pos + 8 > #data + 1 then
      fail(path, string.format("expected %d token records, the file ends in record %d", vocab_size, id))
    end
    local score, len
    score, len, pos = string.unpack("<fi4", data, pos)
    if len < 0 or pos + len > #data + 1 then
      fail(path, string.format("record %d: expected %d piece bytes within the file", id, len))
    end
    local piece = data:sub(pos, pos + len - 1)
    pos = pos + len
    self.pieces[id], self.scores[id] = piece, score
    if self.ids[piece] == nil then self.ids[piece] = id end
  end
  if pos ~= #data + 1 then
    fail(path, string.format("expected %d bytes for %d token records, got %d", pos - 1, vocab_size, #data))
  end
  self.vocab_size = vocab_size
  return self
end

-- text -> list of ids. opts: bos (default true), eos (default false).
function M:encode(text, opts)
  opts = opts or {}
  local out = {}
  if opts.bos ~= false then out[#out + 1] = M.BOS end
  local toks = {}
  if #text > 0 then
    local space = self.ids[" "]
    assert(space, "sp_tokenizer: the vocabulary has no \" \" piece for the dummy prefix")
    toks[1] = space
  end
  for ch in text:gmatch(utf8.charpattern) do
    local id = self.ids[ch]
    if id then
      toks[#toks + 1] = id
    else
      for k = 1, #ch do toks[#toks + 1] = ch:byte(k) + 3 end
    end
  end
  while true do
    local best_score, best_id, best_i = -1e10, nil, nil
    for i = 1, #toks - 1 do
      local id = self.ids[self.pieces[toks[i]] .. self.pieces[toks[i + 1]]]
      if id and self.scores[id] > best_score then best_score, best_id, best_i = self.scores[id], id, i end
    end
    if not best_i then break end
    toks[best_i] = best_id
    table.remove(toks, best_i + 1)
  end
  for _, id in ipairs(toks) do out[#out + 1] = id end
  if opts.eos then out[#out + 1] = M.EOS end
  return out
end

-- The text of token `id` following token `prev` (run.c's decode).
function M:piece(prev, id)
  local p = self.pieces[id]
  assert(p, "sp_tokenizer: token id " .. tostring(id) .. " out of range")
  if prev == M.BOS and p:sub(1, 1) == " " then p = p:sub(2) end
  local hex = p:match("^<0x(%x%x)>$")
  if hex then p = string.char(tonumber(hex, 16)) end
  return p
end

-- ids -> text: the pieces of ids[2..] each decoded after its predecessor (ids[1] is usually BOS
-- and prints nothing, as in run.c); a list not starting with BOS decodes every id.
function M:decode(ids)
  local parts = {}
  local first = 1
  if ids[1] == M.BOS then first = 2 end
  for i = first, #ids do
    if ids[i] ~= M.BOS and ids[i] ~= M.EOS then parts[#parts + 1] = self:piece(ids[i - 1], ids[i]) end
  end
  return table.concat(parts)
end

return M
