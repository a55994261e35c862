-- test_readers.lua — recx.data.readers and recx.data.html: hand-made files with every malformed
-- case (strict error text with the line number, lenient skip counts), entity decoding, and the
-- real data in ../../../shared/data when it is present (counts from its SOURCE.md files).
local T = require "harness"
local readers = require "recx.data.readers"
local html = require "recx.data.html"

local tmpfiles = {}
local function write(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  tmpfiles[#tmpfiles + 1] = path
  return path
end

local HEADER = "item_id\tasin\tllmrank_item_id\ttwin_ambiguous\ttitle\n"

-- fn raises exactly "readers: <path>:<line>: <expected...>"; returns the message
local function strict_error(fn, path, line, expected)
  local ok, err = pcall(fn, path)
  T.ok(not ok, "expected an error for " .. expected)
  err = tostring(err)
  local prefix = string.format("readers: %s:%d: ", path, line)
  T.eq(err:sub(1, #prefix), prefix, "error prefix")
  T.ok(err:find(expected, 1, true) ~= nil, string.format("%q does not contain %q", err, expected))
end

T.case("html: named, numeric and unknown entities", function()
  T.eq(html.decode("Pok&eacute;mon &amp; Friends&reg;"), "Pokémon & Friends®")
  T.eq(html.decode("caf&#233;"), "café")
  T.eq(html.decode("caf&#xE9; caf&#xe9; caf&#XE9;"), "café café café")
  T.eq(html.decode("&foo; stays"), "&foo; stays")
  T.eq(html.decode("a &amp b"), "a &amp b", "no semicolon: not a reference")
  T.eq(html.decode("&amp;lt;"), "&lt;", "decoded once, not twice")
  T.eq(html.decode("&lt;&gt;&quot;&apos;"), "<>\"'")
  T.eq(html.decode("&nbsp;"), "\xC2\xA0")
  T.eq(html.decode("&egrave;&ecirc;&agrave;&aacute;&iacute;&oacute;&uacute;&ntilde;&ouml;&uuml;&auml;"),
    "èêàáíóúñöüä")
  T.eq(html.decode("&trade;&copy;&hellip;&ndash;&mdash;"), "™©…–—")
  T.eq(html.decode("&lsquo;&rsquo;&ldquo;&rdquo;&deg;&frac12;&times;"), "‘’“”°½×")
  T.eq(html.decode("&#128512;"), "\xF0\x9F\x98\x80", "4-byte UTF-8")
  T.eq(html.decode("&#x110000; &#xD800; &#0;"), "&#x110000; &#xD800; &#0;", "non-scalars kept")
  T.eq(html.decode("&Eacute;"), "&Eacute;", "names are case-sensitive; unknown kept")
  T.eq(html.decode("plain"), "plain")
  T.raises("html.decode: argument #1: expected a string, got number", html.decode, 5)
end)

T.case("read_sequences: good file", function()
  local p = write("1 10 11 12\n2 11\r\n7 3 3 10\n")
  local seqs, st = readers.read_sequences(p)
  T.eq(seqs[1], { 10, 11, 12 })
  T.eq(seqs[2], { 11 }, "CRLF accepted")
  T.eq(seqs[7], { 3, 3, 10 })
  T.eq(math.type(seqs[1][1]), "integer")
  T.eq(st.users, 3); T.eq(st.interactions, 7); T.eq(st.items, 4); T.eq(st.skipped, 0)
  T.eq(st.order, { 1, 2, 7 })
end)

T.case("read_sequences: malformed lines, strict and lenient", function()
  local cases = {
    { "1 2 3\n4\n", 2, "expected a user id and at least one item id, got 1 field(s)" },
    { "1 2 3\n\n", 2, "expected a user id and at least one item id, got 0 field(s)" },
    { "1 2\n5 6\nx 2 3\n", 3, "expected an integer user id, got \"x\"" },
    { "1 2 3.5\n", 1, "expected an integer item id in field 3, got \"3.5\"" },
    { "1 2 -3\n", 1, "expected an integer item id in field 3, got \"-3\"" },
    { "1 2\n1 3\n", 2, "expected a new user id, got 1 again" },
  }
  for _, c in ipairs(cases) do
    local p = write(c[1])
    strict_error(readers.read_sequences, p, c[2], c[3])
  end
  local p = write("1 2 3\n4\nx 1\n5 6 7\n5 8\n9 9\n")
  local seqs, st = readers.read_sequences(p, { lenient = true })
  T.eq(st.skipped, 3); T.eq(st.users, 3); T.eq(st.interactions, 5); T.eq(st.lines, 6)
  T.eq(seqs[5], { 6, 7 }, "the first line of a user wins")
  T.eq(st.first_skip, "readers: " .. p .. ":2: expected a user id and at least one item id, got 1 field(s)")
end)

T.case("read_items_tsv: good file and decoding", function()
  local p = write(HEADER .. "0\tB00L59D9HG\t442\t0\tPok&eacute;mon &amp; Friends&reg;\n"
    .. "5\t0700099867\t7\t1\tDirt 3\n" .. "6\tB0X\t8\t1\tA\tB?\n")
  local ok, err = pcall(readers.read_items_tsv, p)
  T.ok(not ok); T.eq(err, "readers: " .. p .. ":4: expected 5 tab-separated fields, got 6")
  p = write(HEADER .. "0\tB00L59D9HG\t442\t0\tPok&eacute;mon &amp; Friends&reg;\n"
    .. "5\t0700099867\t7\t1\tDirt 3\n")
  local items, st = readers.read_items_tsv(p)
  T.eq(items[0].asin, "B00L59D9HG"); T.eq(items[0].title, "Pokémon & Friends®")
  T.eq(items[0].twin, false); T.eq(items[0].llmrank_id, 442)
  T.eq(items[5].asin, "0700099867", "leading zeros kept"); T.eq(items[5].twin, true)
  T.eq(st.items, 2); T.eq(st.twins, 1); T.eq(st.skipped, 0)
end)

T.case("read_items_tsv: malformed lines, strict and lenient", function()
  local good = "1\tB001\t2\t0\tGame\n"
  local cases = {
    { "id\tasin\n" .. good, 1, "expected the header" },
    { HEADER .. good .. "2\tB002\t3\n", 3, "expected 5 tab-separated fields, got 3" },
    { HEADER .. good .. "\n", 3, "expected 5 tab-separated fields, got 1" },
    { HEADER .. "a\tB002\t3\t0\tT\n", 2, "expected an integer item_id, got \"a\"" },
    { HEADER .. good .. good, 3, "expected a new item_id, got 1 again" },
    { HEADER .. "2\t\t3\t0\tT\n", 2, "expected an alphanumeric asin, got \"\"" },
    { HEADER .. "2\tB002\tz\t0\tT\n", 2, "expected an integer llmrank_item_id, got \"z\"" },
    { HEADER .. "2\tB002\t3\tyes\tT\n", 2, "expected twin_ambiguous 0 or 1, got \"yes\"" },
    { HEADER .. "2\tB002\t3\t0\t\n", 2, "expected a non-empty title" },
  }
  for _, c in ipairs(cases) do
    strict_error(readers.read_items_tsv, write(c[1]), c[2], c[3])
  end
  local p = write(HEADER .. good .. "2\tB002\t3\n" .. "3\tB003\t4\t2\tT\n" .. "4\tB004\t5\t1\tT&amp;\n")
  local items, st = readers.read_items_tsv(p, { lenient = true })
  T.eq(st.skipped, 2); T.eq(st.items, 2); T.eq(st.twins, 1)
  T.eq(items[4].title, "T&"); T.eq(items[2], nil); T.eq(items[3], nil)
  T.eq(st.first_skip, "readers: " .. p .. ":3: expected 5 tab-separated fields, got 3")
end)

T.case("read_user_item_pairs: grouping, malformed lines", function()
  local p = write("1 5\n1 6\n2 5\r\n1 7\n3 9\n")
  local seqs, st = readers.read_user_item_pairs(p)
  T.eq(seqs[1], { 5, 6, 7 }); T.eq(seqs[2], { 5 }); T.eq(seqs[3], { 9 })
  T.eq(st.order, { 1, 2, 3 }); T.eq(st.users, 3); T.eq(st.interactions, 5); T.eq(st.items, 4)
  local cases = {
    { "1 5\n1\n", 2, "expected 2 fields \"user_id item_id\", got 1" },
    { "1 5\n1 6 7\n", 2, "expected 2 fields \"user_id item_id\", got 3" },
    { "1 5\n\n", 2, "expected 2 fields \"user_id item_id\", got 0" },
    { "u1 5\n", 1, "expected an integer user_id, got \"u1\"" },
    { "1 5\n1 5e2\n", 2, "expected an integer item_id, got \"5e2\"" },
  }
  for _, c in ipairs(cases) do
    strict_error(readers.read_user_item_pairs, write(c[1]), c[2], c[3])
  end
  p = write("1 5\n1\n1 6 7\n2 x\n2 8\n")
  seqs, st = readers.read_user_item_pairs(p, { lenient = true })
  T.eq(st.skipped, 3); T.eq(st.users, 2); T.eq(st.interactions, 2)
  T.eq(seqs[1], { 5 }); T.eq(seqs[2], { 8 })
end)

T.case("readers: argument and open errors", function()
  T.raises("readers.read_sequences: argument #1: expected a file path string, got nil", readers.read_sequences)
  T.raises("readers.read_items_tsv: argument #2: expected an options table or nil, got boolean",
    readers.read_items_tsv, "x", true)
  local missing = os.tmpname()
  os.remove(missing)
  T.raises("readers: cannot open " .. missing, readers.read_user_item_pairs, missing)
end)

local DATA = "../../../shared/data"
local probe = io.open(DATA .. "/amazon-games-2018/SOURCE.md", "rb")
if not probe then
  print("SKIP real data: " .. DATA .. " not found")
else
  probe:close()
  T.case("real data: amazon-games-2018 and sasrec-video-2014", function()
    local t0 = os.clock()
    local seqs, st = readers.read_sequences(DATA .. "/amazon-games-2018/sequences.txt")
    T.eq(st.users, 50546); T.eq(st.interactions, 452989); T.eq(st.items, 16859); T.eq(st.skipped, 0)
    local minlen, maxlen = math.huge, 0
    for _, s in pairs(seqs) do
      if #s < minlen then minlen = #s end
      if #s > maxlen then maxlen = #s end
    end
    T.eq(minlen, 5, "5-core: min length"); T.eq(maxlen, 771, "max length")

    local items, ist = readers.read_items_tsv(DATA .. "/amazon-games-2018/items.tsv")
    T.eq(ist.items, 16859); T.eq(ist.twins, 14); T.eq(ist.skipped, 0)
    for _, s in pairs(seqs) do
      for _, it in ipairs(s) do
        if not items[it] then T.ok(false, "item " .. it .. " of sequences.txt missing from items.tsv") end
      end
    end
    local by_asin = {}
    for _, v in pairs(items) do by_asin[v.asin] = v.title end
    T.eq(by_asin["0700099867"], "Dirt 3")
    T.eq(by_asin["B00001OWYX"], "WipeOut")
    T.eq(by_asin["B00000I1BJ"], "Resident Evil 2")
    T.eq(by_asin["B000034DC7"], "Gran Turismo 2")
    T.eq(items[5].title, "Pokémon Moon - Nintendo 3DS")
    local left = 0
    for _, v in pairs(items) do
      if v.title:find("&%a+;") or v.title:find("&#x?%x+;") then left = left + 1 end
    end
    print(string.format("  items.tsv: %d titles keep an undecoded entity", left))

    local vseqs, vst = readers.read_user_item_pairs(DATA .. "/sasrec-video-2014/Video.txt")
    T.eq(vst.users, 31013); T.eq(vst.interactions, 287107); T.eq(vst.items, 23715); T.eq(vst.skipped, 0)
    T.eq(vseqs[1][1], 6393)
    local dt = os.clock() - t0
    print(string.format("  real data read in %.2f s", dt))
    T.ok(dt < 5, "real data part should stay under ~5 s")
  end)
end

for _, p in ipairs(tmpfiles) do os.remove(p) end
T.done()
