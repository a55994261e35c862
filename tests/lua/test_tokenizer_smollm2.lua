-- test_tokenizer_smollm2.lua — the SmolLM2-135M-Instruct tokenizer read from its GGUF (through
-- recx.gguf) against the ids of HF transformers' tokenizer built from the same GGUF
-- (tests/fixtures/make_tokenizer_fixtures.py): every corpus line (with/without special-token
-- parsing, with add_special), decodes, runtime special tokens, the first 3000 game titles of the
-- shared data (sha256 per 100 titles), the tokenizer.json path on the same vocabulary when the
-- fixture script left it in /tmp, and the encode speed. Skips when the model is absent.
local T = require "harness"
local U = require "tokenizer_util"
local Tok = require "recx.text.tokenizer"
local recx = require "recx"

local gguf = T.models_dir() .. "/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
local probe = io.open(gguf, "rb")
if not probe then T.skip(gguf .. " not found") end
probe:close()
if not U.ref.smollm2 then T.skip("tokenizer_ids.json has no SmolLM2 ids (the fixture script ran without the model)") end

local t0 = recx.clock()
local tok = Tok.load(gguf)
print(string.format("  loaded the GGUF tokenizer in %.2f s", recx.clock() - t0))

T.case("GGUF tokenizer matches HF (transformers from the GGUF)", function()
  U.check_record(tok, U.ref.smollm2)
end)

T.case("GGUF fields", function()
  T.eq(tok.vocab_size, 49152)
  T.eq({tok.bos_id, tok.eos_id, tok.pad_id, tok.unk_id}, {1, 2, 2, 0})
  T.eq(tok.add_bos, false, "tokenizer.ggml.add_bos_token = false")
  T.eq(tok:token_to_id("<|im_start|>"), 1)
  T.eq(tok:id_to_token(19556), "Hello")
  T.eq(tok:id_to_token(905), "Ġworld", "tokens keep the GPT-2 alphabet")
  for id = 0, 16 do T.ok(tok:is_special(id), "control token " .. id .. " is special") end
  T.ok(not tok:is_special(17))
end)

T.case("chat markers are single tokens unless parse_special = false", function()
  local ids = tok:encode("<|im_start|>user\nHi<|im_end|>")
  T.eq(ids[1], 1)
  T.eq(tok:decode(ids), "<|im_start|>user\nHi<|im_end|>")
  T.eq(tok:decode(ids, {skip_special = true}), "user\nHi")
  local plain = tok:encode("<|im_start|>", {parse_special = false})
  T.ok(#plain > 1, "split as text: " .. table.concat(plain, " "))
  T.eq(tok:decode(plain), "<|im_start|>")
end)

T.case("runtime special tokens match HF", function()
  local t2 = Tok.load(gguf)
  local ref = U.ref.smollm2_added
  T.eq(t2:add_special_tokens({"<user>", "<item>"}), U.ints(ref.ids))
  U.same_ids(t2:encode("Recommend<user> an <item>."), ref.encode, "encode with <user>, <item>")
  T.eq(t2.vocab_size, 49154)
end)

T.case("tokenizer.json path on the same vocabulary", function()
  local json = "/tmp/recx-tokenizer/smollm2.tokenizer.json"
  local f = io.open(json, "rb")
  if not f then
    print("  (" .. json .. " absent: run tests/fixtures/make_tokenizer_fixtures.py to check this path)")
    return
  end
  f:close()
  U.check_record(Tok.load(json), U.ref.smollm2)
end)

T.case("first 3000 game titles (sha256 per 100 titles)", function()
  local path = "../../../shared/data/amazon-games-2018/items.tsv"
  local f = io.open(path, "r")
  if not f then
    print("  (" .. path .. " absent: case not run)")
    return
  end
  local want = {}
  for line in io.lines("../fixtures/tokenizer_games_sha256.txt") do
    if not line:match("^#") then want[#want + 1] = line end
  end
  local cols = {}
  for c in f:read("l"):gmatch("[^\t]+") do cols[#cols + 1] = c end
  local col
  for i, c in ipairs(cols) do if c == "title" then col = i end end
  T.ok(col ~= nil, "items.tsv has a title column")
  local titles = {}
  for line in f:lines() do
    local fields, start = {}, 1
    while true do
      local tab = line:find("\t", start, true)
      fields[#fields + 1] = line:sub(start, (tab or #line + 1) - 1)
      if not tab then break end
      start = tab + 1
    end
    titles[#titles + 1] = fields[col]
    if #titles == 3000 then break end
  end
  f:close()
  T.eq(#want, #titles // 100, "one digest per 100 titles")
  for k = 1, #want do
    local parts = {}
    for i = (k - 1) * 100 + 1, k * 100 do parts[#parts + 1] = table.concat(tok:encode(titles[i]), ",") .. "\n" end
    local got = U.sha256(table.concat(parts))
    if got ~= want[k] then
      -- name the first title of the block whose ids differ is not possible without the ids:
      -- report the block (titles [100(k-1), 100k))
      T.ok(false, string.format("titles %d..%d: sha256 %s, want %s", (k - 1) * 100, k * 100 - 1, got, want[k]))
      return
    end
  end
  T.ok(true)
end)

T.case("encode speed", function()
  local text = string.rep(U.corpus, 40)
  local fresh = Tok.load(gguf)
  local t1 = recx.clock()
  local ids = fresh:encode(text)
  local cold = recx.clock() - t1
  local warm = math.huge -- best of 3: the machine may be shared
  for _ = 1, 3 do
    t1 = recx.clock()
    ids = fresh:encode(text)
    warm = math.min(warm, recx.clock() - t1)
  end
  print(string.format("  encode: %.1f KB corpus x40 -> %d ids; %.2f MB/s cold cache, %.2f MB/s warm cache (best of 3)",
    #text / 1024, #ids, #text / cold / 1e6, #text / warm / 1e6))
  T.ok(#ids > 0)
end)

T.done()
