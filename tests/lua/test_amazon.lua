-- test_amazon.lua — core.data (lines, records, parse) and recx.data.amazon on gzip files the test
-- writes with the gzip tool: 2018-style JSON reviews with field selection, 2014-style Python
-- literal metadata, strict errors with file:line:column, lenient skip counts, and the reading
-- speed of a 200k-line review file (printed, not asserted).
local T = require "harness"
local core = require "recx.core"
local amazon = require "recx.data.amazon"

local data = core.data
local tmp = {}

local function write_gz(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  assert(os.execute("gzip -f -n '" .. path .. "'"), "gzip failed")
  tmp[#tmp + 1] = path .. ".gz"
  return path .. ".gz"
end

local REVIEWS = table.concat({
  '{"overall": 5.0, "verified": true, "reviewTime": "10 17, 2015", "reviewerID": "U1", "asin": "A", "reviewerName": "x", "reviewText": "Great \\"game\\"", "unixReviewTime": 1445040000}',
  '{"overall": 4.0, "reviewerID": "U2", "asin": "B", "style": {"Format:": " Video Game"}, "unixReviewTime": 1445040001, "vote": "2"}',
  '',
  '{"overall": 1.0, "reviewerID": "U1", "asin": "B", "unixReviewTime": 1400000000, "image": ["http://x/1.jpg"]}',
}, "\n") .. "\n"

T.case("records: fields, types, null, stats", function()
  local p = write_gz(REVIEWS)
  local r <close> = data.records(p, {fields = {"reviewerID", "asin", "unixReviewTime", "overall", "vote"}})
  local a = r:next()
  T.eq(a.reviewerID, "U1"); T.eq(a.asin, "A"); T.eq(a.unixReviewTime, 1445040000)
  T.eq(math.type(a.unixReviewTime), "integer"); T.eq(a.overall, 5.0); T.eq(math.type(a.overall), "float")
  T.eq(a.reviewText, nil, "unselected field absent"); T.eq(a.vote, nil)
  local b = r:next()
  T.eq(b.vote, "2"); T.eq(b.style, nil)
  T.eq(r:lineno(), 2)
  local c = r:next()
  T.eq(c.unixReviewTime, 1400000000)
  T.eq(r:lineno(), 4, "the empty line is counted in line numbers")
  T.eq(r:next(), nil)
  local st = r:stats()
  T.eq({st.lines, st.records, st.empty, st.skipped}, {4, 3, 1, 0})
  local all <close> = data.records(p)
  local full = all:next()
  T.eq(full.reviewText, 'Great "game"'); T.eq(full.verified, true)
  T.eq(data.parse('{"a": null}').a, data.null)
  T.eq(data.null, require("cjson").null, "null is cjson.null")
end)

T.case("lines: CRLF, empty and unterminated last line, progress", function()
  local p = write_gz("a\r\n\r\nlast")
  local r <close> = data.lines(p)
  local got = {}
  while true do
    local line, n = r:next()
    if not line then break end
    got[#got + 1] = n .. ":" .. line
  end
  T.eq(got, {"1:a", "2:", "3:last"})
  local off, size = r:progress()
  T.eq(off, size)
  T.raises("cannot open (No such file or directory)", data.lines, "/nonexistent/x.gz")
  T.raises("lines: argument #1: expected a file path (a string), got number", data.lines, 5)
  T.raises("records: argument #2: unknown option 'field' (known: fields, lenient, syntax)", data.records, p,
    {field = {}})
  T.raises("syntax: expected \"auto\", \"json\" or \"python\", got \"yaml\"", data.records, p, {syntax = "yaml"})
  r:close()
  T.raises("the line reader was closed", r.next, r)
end)

T.case("read_reviews: columns in file order", function()
  local p = write_gz(REVIEWS)
  local rv, st = amazon.read_reviews(p, {progress = false})
  T.eq(rv.n, 3)
  T.eq(rv.users, {"U1", "U2", "U1"}); T.eq(rv.items, {"A", "B", "B"})
  T.eq(rv.times, {1445040000, 1445040001, 1400000000}); T.eq(rv.ratings, {5.0, 4.0, 1.0})
  T.eq(st.records, 3)
end)

T.case("read_reviews: malformed lines, strict and lenient", function()
  local p = write_gz(REVIEWS .. '{"reviewerID": "U3", "asin" "C", "unixReviewTime": 1}\n' ..
    '{"reviewerID": "U3", "unixReviewTime": 1}\n')
  local ok, err = pcall(amazon.read_reviews, p, {progress = false})
  T.eq(ok, false)
  T.eq(err, p .. ":5: expected ':' after key at column 29, got '\"'")
  local rv, st = amazon.read_reviews(p, {progress = false, lenient = true})
  T.eq(rv.n, 3); T.eq(st.skipped, 2)
  T.eq(st.first_skip, p .. ":5: expected ':' after key at column 29, got '\"'")
  local p2 = write_gz('{"reviewerID": "U3", "unixReviewTime": 1}\n')
  T.raises(p2 .. ":1: missing field 'asin' (a string)", amazon.read_reviews, p2, {progress = false})
end)

local META_2014 = table.concat({
  [=[{'asin': 'A', 'title': "Mario's Quest", 'price': 19.99, 'imUrl': 'http://x', 'related': {'also_bought': ['B', 'C'], 'bought_together': ['B']}, 'salesRank': {'Video Games': 1203L}, 'categories': [['Video Games', 'Nintendo 3DS']], 'description': 'Caf\xc3\xa9 \'quest\'\n'}]=],
  [=[{'asin': 'B', 'title': u'Pok\xe9mon', 'brand': None, 'feature': ['fast', "it's", u'\u00e9t\u00e9'], 'flag': True}]=],
  [=[{"asin": "C", "title": "JSON line among Python ones", "description": ["a", "b"]}]=],
  [=[{'asin': 'A', 'title': 'A again'}]=],
}, "\n") .. "\n"

T.case("read_meta: 2014 Python literals, JSON mixed in, keep, duplicates", function()
  local p = write_gz(META_2014)
  local meta, st = amazon.read_meta(p, {progress = false})
  T.eq(st.records, 4); T.eq(st.duplicates, 1)
  T.eq(meta.A.title, "A again", "a repeated asin replaces the record")
  T.eq(meta.B.title, "Pokémon"); T.eq(meta.B.brand, amazon.null); T.eq(meta.B.flag, true)
  T.eq(meta.B.feature, {"fast", "it's", "été"})
  T.eq(meta.C.description, {"a", "b"})
  local first, _ = amazon.read_meta(p, {progress = false, keep = {A = true}, fields = {"title", "related", "salesRank",
    "categories", "description", "price"}})
  T.eq(first.B, nil, "keep filters asins")
  local a = first.A
  T.eq(a.title, "A again")
  local only <close> = data.records(p, {syntax = "python"})
  local rec = only:next()
  T.eq(rec.related.also_bought, {"B", "C"}); T.eq(rec.salesRank["Video Games"], 1203)
  T.eq(rec.categories, {{"Video Games", "Nintendo 3DS"}}); T.eq(rec.price, 19.99)
  T.eq(rec.description, "Café 'quest'\n")
  local bad = write_gz("{'asin': 'X', 'title': 'ok'}\n{'asin': 'Y' 'title': 'no colon'}\n")
  T.raises(bad .. ":2: expected ',' or '}' at column 14, got '''", amazon.read_meta, bad, {progress = false})
end)

T.case("speed: 200k-line gzip JSON review file", function()
  local parts = {}
  for i = 1, 200000 do
    parts[i] = string.format('{"overall": %d.0, "verified": true, "reviewTime": "01 %d, 2016", "reviewerID": "A%07d", ' ..
      '"asin": "B%09d", "reviewerName": "Reviewer %d", "reviewText": "This game is fun. I played it for %d hours and ' ..
      'would play again; the controls are tight and the story is good.", "summary": "Fun", "unixReviewTime": %d}',
      i % 5 + 1, i % 28 + 1, i % 50000, i % 17000, i, i % 90, 1450000000 + i)
  end
  local p = write_gz(table.concat(parts, "\n") .. "\n")
  local t0 = core.clock()
  local rv = amazon.read_reviews(p, {progress = false})
  local dt = core.clock() - t0
  T.eq(rv.n, 200000)
  T.eq(rv.users[123456], string.format("A%07d", 123456 % 50000))
  T.eq(rv.times[200000], 1450200000)
  local t1 = core.clock()
  local r <close> = data.records(p)
  local n = 0
  while r:next() do n = n + 1 end
  local dt_all = core.clock() - t1
  print(string.format("  read_reviews (4 fields): %.0f lines/s; all fields: %.0f lines/s", 200000 / dt, n / dt_all))
end)

for _, p in ipairs(tmp) do os.remove(p) end
T.done()
