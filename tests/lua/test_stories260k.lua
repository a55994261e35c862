-- test_stories260k.lua — the real pretrained llama2.c model stories260K in recx: checkpoint
-- reader (header and exact-size checks), the llama2.c tokenizer, and greedy generation against
-- the text that upstream llama2.c run.c prints (shared/models/stories260K/SOURCE.md).
-- Skips when the shared model folder (a sibling of the repository) is absent.
local dir = "../../../shared/models/stories260K/"
local probe = io.open(dir .. "stories260K.bin", "rb")
if not probe then
  print("SKIP test_stories260k: " .. dir .. "stories260K.bin not found (the shared model folder is absent)")
  os.exit(0)
end
probe:close()

local T = require "harness"
local llama2c = require "recx.llm.llama2c"
local Tok = require "recx.llm.sp_tokenizer"
local Llama = require "recx.llm.llama"
local generate = require "recx.llm.generate"

local MODEL, TOKENIZER = dir .. "stories260K.bin", dir .. "tok512.bin"

-- From SOURCE.md: run stories260K.bin -z tok512.bin -t 0 -n 64 -i "Once upon a time"
local EXPECTED = "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. "
  .. "One day, she saw a big, red ball. She wanted to play with it, but it was too high.\nLily"

local ck = llama2c.load(MODEL)
local tok = Tok.load(TOKENIZER, ck.config.vocab)

T.case("header fields and shapes", function()
  local c = ck.config
  T.eq({c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads, c.vocab_size, c.seq_len},
    {64, 172, 5, 8, 4, 512, 512})
  T.eq(c.shared_classifier, true)
  T.eq(llama2c.float_count(c), 264128)
  T.eq(#ck.weights.layers, 5)
  local l = ck.weights.layers[1]
  T.eq(l.wq:shape(), {64, 64})
  T.eq(l.wk:shape(), {32, 64})
  T.eq(l.w1:shape(), {172, 64})
  T.eq(l.w2:shape(), {64, 172})
  T.eq(ck.weights.embedding:shape(), {512, 64})
end)

T.case("weights are the file's floats; wq rows permuted to rotate-half", function()
  local f = assert(io.open(MODEL, "rb"))
  local data = f:read("a")
  f:close()
  local function float_at(index) return (string.unpack("<f", data, 28 + 4 * index + 1)) end
  -- token_embedding[3][5]
  T.eq(ck.weights.embedding:select(1, 4):select(1, 6):item(), float_at(3 * 64 + 5))
  -- layer 2 wq: the file's row (head 1, 2j + 1) with j = 2 is rotate-half row 8 + 4 + 2 = 14
  local wq_start = 512 * 64 + 5 * 64 + 64 * 64 -- floats before layer 2's wq
  local old_row = 8 + 2 * 2 + 1
  local wq = ck.weights.layers[2].wq
  for col = 0, 63, 21 do
    T.eq(wq:select(1, 14 + 1):select(1, col + 1):item(), float_at(wq_start + old_row * 64 + col))
  end
end)

T.case("tokenizer: encode matches llama2.c ids", function()
  -- dummy prefix " " then merges: " Once" " upon" " a" " time" (derived with an independent
  -- Python transcription of run.c's encode over tok512.bin)
  T.eq(tok:encode("Once upon a time"), {1, 403, 407, 261, 378})
  T.eq(tok:encode("Once upon a time", {bos = false, eos = true}), {403, 407, 261, 378, 2})
  T.eq(tok:encode(""), {1})
  T.eq(tok.pieces[403], " Once")
  -- byte fallback: U+2603 is not a piece, so its 3 UTF-8 bytes become tokens 3 + byte
  local ids = tok:encode("\xE2\x98\x83", {bos = false})
  T.eq({ids[#ids - 2], ids[#ids - 1], ids[#ids]}, {0xE2 + 3, 0x98 + 3, 0x83 + 3})
  T.eq(tok.pieces[0x0A + 3], "<0x0A>")
  T.eq(tok:piece(5, 0x0A + 3), "\n")
  T.eq(tok:piece(1, 403), "Once", "leading space stripped after BOS")
  T.eq(tok:piece(5, 403), " Once")
end)

T.case("tokenizer round-trips", function()
  for _, s in ipairs({"Once upon a time", "Lily and Tom went to the park.", "a\nb\n\nc",
      "  two leading spaces", "caf\xC3\xA9 \xE2\x98\x83 42!", "x"}) do
    T.eq(tok:decode(tok:encode(s)), s, s)
  end
end)

T.case("greedy 64 steps equal llama2.c run.c byte for byte", function()
  local prompt = tok:encode("Once upon a time")
  -- run.c -n 64 runs 64 positions from BOS: the prompt's 4 tokens after BOS plus 60 new ones
  local ids = generate.greedy(Llama.new(ck), prompt, {max_new = 64 - (#prompt - 1)})
  T.eq(#ids, 65)
  T.eq(tok:decode(ids), EXPECTED)
end)

T.case("errors: truncated file names the file and the expected size", function()
  local f = assert(io.open(MODEL, "rb"))
  local head = f:read(1000)
  f:close()
  local path = os.tmpname()
  local out = assert(io.open(path, "wb"))
  out:write(head)
  out:close()
  local ok, err = pcall(llama2c.load, path)
  os.remove(path)
  T.eq(ok, false)
  T.ok(err:find(path, 1, true), err)
  T.ok(err:find("expected 1056540 bytes", 1, true), err)
  T.ok(err:find("got 1000 bytes", 1, true), err)
end)

T.case("errors: bad header fields, missing file, truncated tokenizer", function()
  local path = os.tmpname()
  local out = assert(io.open(path, "wb"))
  out:write(string.pack("<i4i4i4i4i4i4i4", 64, 172, 5, 7, 7, 512, 512))
  out:close()
  local ok, err = pcall(llama2c.load, path)
  T.eq(ok, false)
  T.ok(err:find(path, 1, true) and err:find("n_heads (7) to divide dim (64)", 1, true), err)
  out = assert(io.open(path, "wb"))
  out:write(string.pack("<i4i4i4", 64, 172, 5))
  out:close()
  ok, err = pcall(llama2c.load, path)
  T.ok(not ok and err:find("expected at least 28 bytes", 1, true), err)
  local tf = assert(io.open(TOKENIZER, "rb"))
  local tok_head = tf:read(100)
  tf:close()
  out = assert(io.open(path, "wb"))
  out:write(tok_head)
  out:close()
  ok, err = pcall(Tok.load, path, 512)
  T.ok(not ok and err:find(path, 1, true) and err:find("record", 1, true), err)
  os.remove(path)
  ok, err = pcall(llama2c.load, path .. ".missing")
  T.ok(not ok and err:find("cannot open", 1, true), err)
end)

T.done()
