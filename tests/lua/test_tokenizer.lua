-- test_tokenizer.lua — recx.text.tokenizer against HF tokenizers on tiny tokenizers trained on the
-- committed corpus (tests/fixtures/make_tokenizer_fixtures.py): byte-level BPE with the SmolLM2
-- pre-tokenizer (Digits + ByteLevel), its Llama-3 variant (Split regex, ignore_merges, BOS
-- template), SentencePiece-style BPE with byte fallback (Prepend/Replace normalizer and a
-- Metaspace variant); NFC normalizers (tests/fixtures/make_unicode_tables.py). Every corpus line
-- with and without special-token parsing, with add_special, decode with and without skip_special,
-- added-token flags, runtime special tokens, errors.
local T = require "harness"
local U = require "tokenizer_util"
local Tok = require "recx.text.tokenizer"
local cjson = require "cjson"

local FIX = "../fixtures/"

for _, name in ipairs({"tiny_bytelevel", "tiny_llama3", "tiny_sp", "tiny_metaspace"}) do
  T.case(name .. " matches HF tokenizers", function()
    local tok = Tok.load(FIX .. "tokenizer_" .. name .. ".json")
    U.check_record(tok, U.ref[name], name == "tiny_metaspace")
  end)
end

T.case("fields and lookups", function()
  local bl = Tok.load(FIX .. "tokenizer_tiny_bytelevel.json")
  T.eq(bl.vocab_size, 804, "800 trained + 4 added tokens")
  T.eq(bl:token_to_id("<|im_start|>"), 1)
  T.eq(bl:id_to_token(1), "<|im_start|>")
  T.eq(bl:token_to_id("no such token"), nil)
  T.eq(bl:id_to_token(100000), nil)
  T.ok(bl:is_special(1), "<|im_start|> is special")
  T.ok(not bl:is_special(801), "[W] is a plain added token")
  T.eq(bl.add_bos, false)
  local sp = Tok.load(FIX .. "tokenizer_tiny_sp.json")
  T.eq(sp.add_bos, true, "BOS from the TemplateProcessing post-processor")
  T.eq(sp.bos_id, 1)
  T.eq(sp.unk_id, 0, "model.unk_token")
  T.eq(sp:token_to_id("<0x41>"), 68, "byte-fallback tokens")
  local l3 = Tok.load(FIX .. "tokenizer_tiny_llama3.json")
  T.eq(l3:encode("hi", {add_special = true})[1], 1, "BOS <|im_start|> from a Sequence post-processor")
end)

T.case("runtime special tokens match HF add_special_tokens", function()
  local tok = Tok.load(FIX .. "tokenizer_tiny_bytelevel.json")
  local ref = U.ref.tiny_bytelevel_added
  T.eq(tok:add_special_tokens({"<user>", "<item>", "<|im_start|>"}), U.ints(ref.ids))
  T.eq(tok.vocab_size, 806)
  U.same_ids(tok:encode("x<user>y <item> <user><item>"), ref.encode, "encode with new tokens")
  T.eq(tok:add_special_tokens({"<user>"}), {804}, "adding again returns the same id")
  T.eq(tok:decode({804, 805}), "<user><item>")
  T.eq(tok:decode({804, 805}, {skip_special = true}), "")
  T.eq(tok:encode("<user>", {parse_special = false}) ~= {804}, true)
  T.ok(#tok:encode("<user>", {parse_special = false}) > 1, "parse_special=false splits <user> as text")
end)

T.case("encode_batch and empty text", function()
  local tok = Tok.load(FIX .. "tokenizer_tiny_sp.json")
  local b = tok:encode_batch({"a b", "", "hello"})
  T.eq(#b, 3)
  T.eq(b[1], tok:encode("a b"))
  T.eq(b[2], {})
  T.eq(tok:decode({}), "")
end)

T.case("bytes survive a round trip, invalid UTF-8 included", function()
  local s = "ok \xff\xfe \xc3\x28 \xe2\x82 end\0zero"
  for _, name in ipairs({"tiny_bytelevel", "tiny_sp"}) do
    local tok = Tok.load(FIX .. "tokenizer_" .. name .. ".json")
    T.eq(tok:decode(tok:encode(s)), s, name .. ": bytes exact")
  end
end)

T.case("Split pre-tokenizer with a literal String pattern", function()
  local function split_tok(behavior)
    return Tok.from_json_string('{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "-": 2, "ab": 3}, ' ..
      '"merges": ["a b"]}, "pre_tokenizer": {"type": "Split", "pattern": {"String": "-"}, "behavior": "' ..
      behavior .. '", "invert": false}}')
  end
  -- "ab-ab": the literal "-" (not a regex: "." would match anything) splits before BPE merges
  T.eq(split_tok("Isolated"):encode("ab-ab"), {3, 2, 3})
  T.eq(split_tok("Removed"):encode("ab-ab"), {3, 3})
  T.eq(split_tok("Removed"):encode("a-b"), {0, 1}, "no merge across the removed separator")
end)

T.case("NFC normalizer (plain, as Qwen2, and inside a Sequence) matches HF tokenizers", function()
  -- tests/fixtures/make_unicode_tables.py: HF ids of strings that need NFC (decomposed accents,
  -- U+212B, Vietnamese stacked marks in both orders, Hangul jamo, U+0958)
  local ref = cjson.decode(U.read(FIX .. "tokenizer_nfc_ids.json"))
  for _, name in ipairs({"tiny_nfc", "tiny_nfc_seq"}) do
    local tok = Tok.load(FIX .. "tokenizer_" .. name .. ".json")
    T.eq(#ref[name], 10)
    for i, case in ipairs(ref[name]) do
      U.same_ids(tok:encode(case.text), case.ids, name .. " case " .. i)
    end
  end
  -- composed and decomposed spellings encode alike; the decoder returns the normalized text
  local tok = Tok.load(FIX .. "tokenizer_tiny_nfc.json")
  T.eq(tok:encode("cafe\u{301}"), tok:encode("caf\u{e9}"))
  T.eq(tok:decode(tok:encode("A\u{30a}")), "\u{c5}")
  T.eq(tok:decode(tok:encode("ok \xff\xfe \xc3\x28 end")), "ok \xff\xfe \xc3\x28 end", "invalid UTF-8 kept")
end)

T.case("errors name the path or argument", function()
  T.raises("model.type 'Unigram' is not supported", Tok.from_json_string,
    '{"model": {"type": "Unigram", "vocab": []}}')
  T.raises("pre_tokenizer.pretokenizers[0].type 'Whitespace' is not supported", Tok.from_json_string,
    '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "pre_tokenizer": {"type": "Sequence", ' ..
    '"pretokenizers": [{"type": "Whitespace"}]}}')
  T.raises("normalizer.type 'NFKC' is not supported", Tok.from_json_string,
    '{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}, "normalizer": {"type": "NFKC"}}')
  T.raises("merge 0: the merged token 'ab' is not in the vocabulary", Tok.from_json_string,
    '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": ["a b"]}}')
  T.raises("invalid JSON", Tok.from_json_string, '{"model": ')
  T.raises("cannot open", Tok.load, "no/such/tokenizer.json")
  local tok = Tok.load(FIX .. "tokenizer_tiny_sp.json")
  T.raises("id 99999 (index 2) is not in the vocabulary", tok.decode, tok, {5, 99999})
  T.raises("expected an integer id", tok.decode, tok, {5, "x"})
  T.raises("expected a string", tok.encode, tok, 42)
  tok:close()
  T.raises("tokenizer was closed", tok.encode, tok, "x")
  T.raises("expected the vocabulary size", Tok.from_llama2c, "tok.bin", nil)
end)

T.case("llama2.c tokenizer behind the same interface (synthetic file)", function()
  -- a 6-token llama2.c tokenizer: <unk> <s> </s> " " "a" " a" (only " a" has a score)
  local pieces = {"<unk>", "<s>", "</s>", " ", "a", " a"}
  local parts = {string.pack("<i4", 8)}
  for i, p in ipairs(pieces) do parts[#parts + 1] = string.pack("<fi4", i == 6 and 1.0 or 0.0, #p) .. p end
  local path = os.tmpname() .. ".bin"
  local f = assert(io.open(path, "wb"))
  f:write(table.concat(parts))
  f:close()
  local tok = Tok.load(path, {vocab_size = 6})
  os.remove(path)
  T.eq(tok:encode("a", {add_special = true}), {1, 5})
  T.eq(tok:decode({1, 5}), "a")
  T.eq(tok:add_special_tokens({"<user>"}), {6})
  T.eq(tok:encode("a<user>a"), {5, 6, 5})
  T.eq(tok:decode({5, 6}), " a<user>")
  T.eq(tok:decode({5, 6}, {skip_special = true}), " a")
  T.eq(tok.vocab_size, 7)
  T.ok(tok:is_special(6) and tok:is_special(1) and not tok:is_special(5))
end)

T.case("llama2.c tokenizer behind the same interface (tok512.bin)", function()
  local path = "../../../shared/models/stories260K/tok512.bin"
  local f = io.open(path, "rb")
  if not f then
    print("  (shared tok512.bin absent: case not run)")
    return
  end
  f:close()
  local tok = Tok.load(path, {vocab_size = 512})
  local ids = tok:encode("Once upon a time", {add_special = true})
  T.eq(ids[1], 1)
  T.eq(tok:decode(ids), "Once upon a time")
  T.eq(tok:id_to_token(ids[2]), require("recx.llm.sp_tokenizer").load(path, 512).pieces[ids[2]])
end)

T.done()
