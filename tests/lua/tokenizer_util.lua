-- tokenizer_util.lua — helpers of the tokenizer tests: the HF fixture (tests/fixtures/
-- tokenizer_ids.json), the corpus split in lines, parity checks that name the first mismatch,
-- and a pure-Lua SHA-256 (for the game-title digests; independent of the code under test).
local T = require "harness"
local cjson = require "cjson"

local U = {}

local function read(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end
U.read = read

U.corpus = read("../fixtures/tokenizer_corpus.txt")
U.lines = {}
for l in U.corpus:gmatch("([^\n]*)\n") do U.lines[#U.lines + 1] = l end
U.ref = cjson.decode(read("../fixtures/tokenizer_ids.json"))

-- Integer copies of a JSON id list (cjson decodes numbers as floats).
function U.ints(list)
  local out = {}
  for i, v in ipairs(list) do out[i] = math.tointeger(v) end
  return out
end

-- Asserts that ids equal want, naming the first differing index.
function U.same_ids(got, want, what)
  want = U.ints(want)
  local n = math.max(#got, #want)
  for i = 1, n do
    if got[i] ~= want[i] then
      return T.ok(false, string.format("%s: first mismatch at index %d: got %s, want %s (lengths %d, %d)", what, i,
        tostring(got[i]), tostring(want[i]), #got, #want))
    end
  end
  return T.ok(true)
end

-- Every comparison of one fixture record against a tokenizer; `lossy` when the tokenizer's decoder
-- cannot restore the text (a Metaspace decoder without ByteFallback prints <0xNN> pieces, as HF).
function U.check_record(tok, rec, lossy)
  for i, line in ipairs(U.lines) do
    U.same_ids(tok:encode(line), rec.lines[i], "line " .. i)
    U.same_ids(tok:encode(line, {parse_special = false}), rec.lines_no_special[i], "parse_special=false line " .. i)
    local ids = tok:encode(line, {add_special = true})
    U.same_ids(ids, rec.lines_add_special[i], "add_special line " .. i)
    T.eq(tok:decode(ids), rec.decode[i], "decode line " .. i)
    T.eq(tok:decode(ids, {skip_special = true}), rec.decode_skip_special[i], "decode skip_special line " .. i)
  end
  for i, s in ipairs(U.ref.extra) do U.same_ids(tok:encode(s), rec.extra[i], string.format("extra %q", s)) end
  U.same_ids(tok:encode(U.corpus), rec.whole, "whole corpus")
  if not lossy then T.eq(tok:decode(tok:encode(U.corpus)), U.corpus, "decode(encode(corpus)) is byte-identical") end
end

-- SHA-256 (FIPS 180-4) of a string, as 64 hex digits.
local K = {
  0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
  0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
  0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
  0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
  0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
  0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
  0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
  0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
}
local M32 = 0xffffffff
local function rotr(x, n) return ((x >> n) | (x << (32 - n))) & M32 end

function U.sha256(msg)
  local h = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19}
  local len = #msg
  msg = msg .. "\128" .. string.rep("\0", (55 - len) % 64) .. string.pack(">I8", len * 8)
  local w = {}
  for chunk = 1, #msg, 64 do
    for i = 0, 15 do w[i] = string.unpack(">I4", msg, chunk + 4 * i) end
    for i = 16, 63 do
      local s0 = rotr(w[i - 15], 7) ~ rotr(w[i - 15], 18) ~ (w[i - 15] >> 3)
      local s1 = rotr(w[i - 2], 17) ~ rotr(w[i - 2], 19) ~ (w[i - 2] >> 10)
      w[i] = (w[i - 16] + s0 + w[i - 7] + s1) & M32
    end
    local a, b, c, d, e, f, g, hh = h[1], h[2], h[3], h[4], h[5], h[6], h[7], h[8]
    for i = 0, 63 do
      local S1 = rotr(e, 6) ~ rotr(e, 11) ~ rotr(e, 25)
      local ch = (e & f) ~ (~e & g)
      local t1 = (hh + S1 + ch + K[i + 1] + w[i]) & M32
      local S0 = rotr(a, 2) ~ rotr(a, 13) ~ rotr(a, 22)
      local maj = (a & b) ~ (a & c) ~ (b & c)
      local t2 = (S0 + maj) & M32
      hh, g, f, e, d, c, b, a = g, f, e, (d + t1) & M32, c, b, a, (t1 + t2) & M32
    end
    h[1], h[2], h[3], h[4] = (h[1] + a) & M32, (h[2] + b) & M32, (h[3] + c) & M32, (h[4] + d) & M32
    h[5], h[6], h[7], h[8] = (h[5] + e) & M32, (h[6] + f) & M32, (h[7] + g) & M32, (h[8] + hh) & M32
  end
  return string.format(string.rep("%08x", 8), table.unpack(h))
end

return U
