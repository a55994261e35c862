-- test_prepare.lua — recx.data.prepare (SPEC 2) on hand-made data with hand-computed results:
-- a tiny raw review + metadata gzip pair through the whole recipe pipeline (title filter,
-- de-duplication keeping the first record, stable time sort, an iterative 5-core that needs
-- two rounds, filter_v3, metadata cleaning), filter_v3's top-items / sampling rules on a table,
-- metadata_filter and its helpers, the synthetic source, and missing-input messages.
local T = require "harness"
local cjson = require "cjson"
local check = require "prepare_outputs"
local prepare = require "recx.data.prepare"

local tmp = {}
local function write_gz(text)
  local path = os.tmpname()
  local f = assert(io.open(path, "wb"))
  f:write(text)
  f:close()
  assert(os.execute("gzip -f -n '" .. path .. "'"))
  tmp[#tmp + 1] = path .. ".gz"
  return path .. ".gz"
end

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  tmp[#tmp + 1] = d
  return d .. "/nested/out" -- the recipe creates missing folders
end

local function cfg(extra)
  local c = {source = "auto", reviews = "", meta = "", reviews_url = "", meta_url = "", data_dir = "",
             out_dir = "", seed = 2022, filter_seed = 2023, item_thred = 2000, user_thred = 4000, k = 5,
             lenient = false, progress = false, syn_users = 1000, syn_items = 400, syn_seed = 1}
  for k, v in pairs(extra) do c[k] = v end
  return c
end

-- (user, asin, time) in file order. Expected sequences after the pipeline, by hand:
--   U1: A5 B3 C3 D1 E9 F2, then A0 again (a duplicate: the first record is kept) -> D B C A E
--       (B and C tie at 3: file order), F is removed by the 5-core
--   U2: A B C D E F, and G (no title: dropped)  -> A B C D E
--   U3: E1 D2 C3 B4 A5 F0                        -> E D C B A
--   U4: C A E B D all at time 10                 -> C A E B D (stable)
--   U5: B1 A2 D3 C4 E5                           -> B A D C E
--   U6: A B C F H: round 1 drops H (1 user), round 2 drops U6 (4 items) and then F (4 users)
--   U7: A5 B4 C3 D2 E1 F6                        -> E D C B A
local REVIEWS = {
  {"U1", "A", 5}, {"U1", "B", 3}, {"U2", "A", 1}, {"U1", "C", 3}, {"U1", "D", 1}, {"U1", "E", 9}, {"U1", "F", 2},
  {"U1", "A", 0}, {"U2", "B", 2}, {"U2", "C", 3}, {"U2", "D", 4}, {"U2", "E", 5}, {"U2", "F", 6}, {"U2", "G", 0},
  {"U3", "E", 1}, {"U3", "D", 2}, {"U3", "C", 3}, {"U3", "B", 4}, {"U3", "A", 5}, {"U3", "F", 0},
  {"U4", "C", 10}, {"U4", "A", 10}, {"U4", "E", 10}, {"U4", "B", 10}, {"U4", "D", 10},
  {"U5", "B", 1}, {"U5", "A", 2}, {"U5", "D", 3}, {"U5", "C", 4}, {"U5", "E", 5},
  {"U6", "A", 1}, {"U6", "B", 2}, {"U6", "C", 3}, {"U6", "F", 4}, {"U6", "H", 5},
  {"U7", "A", 5}, {"U7", "B", 4}, {"U7", "C", 3}, {"U7", "D", 2}, {"U7", "E", 1}, {"U7", "F", 6},
}
local EXPECTED = {U1 = "D B C A E", U2 = "A B C D E", U3 = "E D C B A", U4 = "C A E B D", U5 = "B A D C E",
                  U7 = "E D C B A"}

local META = table.concat({
  [=[{'asin': 'A', 'title': '  Alpha Quest!  ', 'brand': '\n    \n    Nova\n    \n    Games ', 'imUrl': 'http://x', 'related': {'also_bought': ['B']}, 'feature': ['  fast. ', '...', 'fun'], 'description': ['  Great game.  ', ' ; ']}]=],
  [=[{'asin': 'B', 'title': 'Beta\n\tRun', 'description': 'Caf\xc3\xa9 \xff ok.'}]=],
  [=[{"asin": "C", "title": "Gamma", "imageURL": [], "imageURLHighRes": [], "category": ["Video Games", "PC"]}]=],
  [=[{'asin': 'D', 'title': 'Delta', 'description': ' ... '}]=],
  [=[{'asin': 'E', 'title': 'Epsilon', 'price': 9.5, 'salesRank': {'Video Games': 12L}}]=],
  [=[{'asin': 'F', 'title': 'Foxtrot'}]=],
  [=[{'asin': 'G', 'title': ''}]=],
  [=[{'asin': 'H', 'title': 'Hotel'}]=],
  [=[{'asin': 'Z', 'brand': 'no title at all'}]=],
}, "\n") .. "\n"

local function reviews_file()
  local lines = {}
  for i, r in ipairs(REVIEWS) do
    lines[i] = string.format('{"overall": 5.0, "reviewerID": "%s", "asin": "%s", "reviewText": "text %d", "unixReviewTime": %d}',
      r[1], r[2], i, r[3])
  end
  return write_gz(table.concat(lines, "\n") .. "\n")
end

T.case("raw files through the whole pipeline: hand-computed result", function()
  local out = tmpdir()
  local reviews, meta_file = reviews_file(), write_gz(META)
  local st = prepare.run(cfg({reviews = reviews, meta = meta_file, out_dir = out}))
  T.eq({st.users, st.items, st.interactions}, {6, 5, 30})
  T.eq(st.source, "raw")
  local r = check.check(out)
  -- every reviewer's sequence, read back through datamaps
  local got = {}
  for uid, seq in ipairs(r.seqs) do
    local asins = {}
    for j, iid in ipairs(seq) do asins[j] = r.maps.id2item[tostring(iid)] end
    got[r.maps.id2user[tostring(uid)]] = table.concat(asins, " ")
  end
  for user, want in pairs(EXPECTED) do T.eq(got[user], want, "sequence of " .. user) end
  T.eq(got.U6, nil, "U6 removed by the second 5-core round")
  -- stage counts
  local s = st.stages
  T.eq(s[2].dropped_duplicates, 1); T.eq(s[2].dropped_untitled, 1); T.eq(s[2].interactions, 39)
  T.eq(s[3].rounds, 2); T.eq({s[3].users, s[3].items, s[3].interactions}, {6, 5, 30})
  T.eq(st.len_histogram, {{5, 6}})
  T.eq({st.len_min, st.len_median, st.len_max, st.len_mean}, {5, 5, 5, 5.0})
  -- metadata, cleaned (SPEC 2.1 step 6) and filtered (SPEC 2.2 step 7)
  local meta = {}
  for _, rec in ipairs(r.meta) do meta[rec.asin] = rec end
  T.eq(meta.A.title, "Alpha Quest"); T.eq(meta.A.brand, "Nova Games")
  T.eq(meta.A.feature, {"fast", "fun"}); T.eq(meta.A.description, {"Great game"})
  T.eq(meta.A.imUrl, nil); T.eq(meta.A.related, nil)
  T.eq(meta.B.title, "Beta Run"); T.eq(meta.B.description, "Café  ok", "invalid byte dropped, stripped")
  T.eq(meta.C.imageURL, nil); T.eq(meta.C.imageURLHighRes, nil); T.eq(meta.C.category, {"Video Games", "PC"})
  T.eq(meta.D.description, nil, "a description stripped to nothing is removed")
  T.eq(meta.E.price, 9.5); T.eq(meta.E.salesRank["Video Games"], 12)
  -- metadata.json key order is fixed: asin, title first
  local first_line = io.open(out .. "/metadata.json"):read("l")
  T.ok(first_line:match('^{"asin": "[A-E]", "title": ') ~= nil, "asin and title first: " .. first_line)
  -- the same inputs give byte-identical files; another seed shuffles users differently
  local out2 = tmpdir()
  prepare.run(cfg({reviews = reviews, meta = meta_file, out_dir = out2}))
  T.eq(io.open(out2 .. "/datamaps.json"):read("a"), io.open(out .. "/datamaps.json"):read("a"))
end)

T.case("raw: malformed lines, strict and lenient", function()
  local bad = write_gz(META .. "{'asin': 'Q' 'title': 'x'}\n")
  local ok, err = pcall(prepare.run, cfg({reviews = reviews_file(), meta = bad, out_dir = tmpdir()}))
  T.eq(ok, false)
  T.eq(err, bad .. ":10: expected ',' or '}' at column 14, got '''")
  local st = prepare.run(cfg({reviews = reviews_file(), meta = bad, out_dir = tmpdir(), lenient = true}))
  T.eq(st.source_report.meta_skipped, 1)
  T.eq(st.users, 6)
end)

T.case("filter_v3: top items, eligible users, sample, k-core (hand-made table)", function()
  -- counts: i1 4, i2 3, i3 2, i4 1; item_thred 2 keeps i1, i2; k = 2 drops c ({i1} only)
  local s1 = {seqs = {{1, 2, 3}, {1, 2}, {1, 3, 4}, {2, 1}}, id2user = {"a", "b", "c", "d"},
              id2item = {"i1", "i2", "i3", "i4"}, item2id = {i1 = 1, i2 = 2, i3 = 3, i4 = 4},
              metadata = {{asin = "i1", title = "One."}, {asin = "i2", title = "Two"}, {asin = "i3", title = "3"},
                          {asin = "i4", title = "4"}}}
  local r = prepare.filter_v3(s1, {seed = 7, item_thred = 2, user_thred = 10, k = 2})
  local got = {}
  for uid, seq in ipairs(r.seqs) do
    local names = {}
    for j, id in ipairs(seq) do names[j] = r.id2item[id] end
    got[r.id2user[uid]] = table.concat(names, " ")
  end
  T.eq({got.a, got.b, got.c, got.d}, {"i1 i2", "i1 i2", nil, "i2 i1"})
  T.eq(#r.seqs, 3)
  T.eq(r.metadata[r.item2id.i1].title, "One", "metadata_filter applied")
  T.eq(r.warnings, {"item 3 of the frequency order has 2 interactions (the reference asserts > 5)",
                    "only 3 users are eligible, fewer than user_thred=10: all kept"})
  -- sampling 2 of the 3 eligible users: deterministic for a seed
  local a = prepare.filter_v3(s1, {seed = 7, item_thred = 2, user_thred = 2, k = 2})
  local b = prepare.filter_v3(s1, {seed = 7, item_thred = 2, user_thred = 2, k = 2})
  T.eq(#a.seqs, 2)
  T.eq(a.id2user, b.id2user, "same seed, same sample and order")
  local seen = {}
  for _, u in ipairs(a.id2user) do seen[u] = true end
  T.eq(seen.c, nil, "an ineligible user is never sampled")
end)

T.case("metadata_filter, strip, utf8_clean, clean_metadata", function()
  T.eq(prepare.strip(" \t\n!.,;?/:Game: The Sequel?!/ \n"), "Game: The Sequel")
  T.eq(prepare.strip("...."), "")
  T.eq(prepare.strip("a-b"), "a-b")
  T.eq(prepare.utf8_clean("ok\xff\xfeé\xe2\x82"), "oké")
  T.eq(prepare.utf8_clean("\xed\xa0\x80x"), "x", "an encoded surrogate is invalid UTF-8")
  local rec, warn = prepare.metadata_filter({asin = "X", title = "!?", feature = {" a ", "", "b."},
                                             description = "  .  ", brand = "Acme\n    \n    Inc."})
  T.eq(rec.title, "!?", "a title that strips to nothing is kept")
  T.ok(warn and warn:find("empty once stripped", 1, true) ~= nil, "and reported")
  T.eq(rec.feature, {"a", "b"}); T.eq(rec.description, nil); T.eq(rec.brand, "Acme Inc")
  local c = prepare.clean_metadata({asin = "Y", title = "A\n\tB\n\tC", description = {"x\n\ty", 3},
                                    related = {}, imUrl = "u", imageURL = {}, imageURLHighRes = {}, price = 1})
  T.eq(c.title, "A B C"); T.eq(c.description, {"x y", 3}); T.eq(c.price, 1)
  T.eq({c.related, c.imUrl, c.imageURL, c.imageURLHighRes}, {nil, nil, nil, nil})
end)

T.case("synthetic source: consistent outputs", function()
  local out = tmpdir()
  local st = prepare.run(cfg({source = "synthetic", syn_users = 80, syn_items = 40, out_dir = out}))
  T.eq(st.source, "synthetic")
  local r = check.check(out)
  T.ok(st.users >= 60 and st.users <= 80, "users " .. st.users)
  T.ok(r.meta[1].brand ~= nil and r.meta[1].feature ~= nil, "synthetic metadata has brand and features")
end)

T.case("missing inputs: messages name the file and how to get it", function()
  T.raises("prepare_data: reviews file /nonexistent/r.json.gz not found: get Video_Games_5.json.gz",
    prepare.run, cfg({source = "raw", reviews = "/nonexistent/r.json.gz", meta = write_gz(META), out_dir = tmpdir()}))
  T.raises("prepare_data: no meta file given (meta=...)", prepare.run, cfg({source = "raw", reviews = "x", out_dir = tmpdir()}))
  T.raises("prepare_data: sequences file /nonexistent/sequences.txt not found: the folder shared/data/amazon-games-2018",
    prepare.run, cfg({source = "games2018", data_dir = "/nonexistent", out_dir = tmpdir()}))
  T.raises("prepare_data: source=movies: expected raw, games2018, synthetic or auto", prepare.run,
    cfg({source = "movies", out_dir = tmpdir()}))
  local core = require "recx.core"
  if not (core.net and core.net.download) then
    T.raises("needs core.net", prepare.run, cfg({source = "raw", reviews = "/nonexistent/r.gz",
      reviews_url = "http://127.0.0.1:9/r.gz", meta = write_gz(META), out_dir = tmpdir()}))
  end
end)

for _, p in ipairs(tmp) do os.execute("rm -rf '" .. p .. "'") end
T.done()
