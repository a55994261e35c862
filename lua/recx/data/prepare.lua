-- recx.data.prepare — the data preparation of SPEC section 2, from any source to one set of files.
--
-- Owns: loading a source into one common form (interactions in file order as parallel columns
-- users / items / times, plus item metadata keyed by item), the two stages of SPEC 2.1
-- (preprocess: title filter, de-duplication keeping the first record, stable time sort, iterative
-- k-core, shuffled users and re-indexing, metadata cleaning) and SPEC 2.2 (filter_v3: top
-- item_thred items, users with >= k of them, a sample of user_thred users, k-core again,
-- shuffled re-indexing, metadata_filter), the leave-one-out files of SPEC 2.3, and writing every
-- output file (docs/formats.md "Prepared recommendation data"). The k-core, re-indexing and split
-- come from recx.data.filter.
--
-- Sources: "raw" (Amazon review + metadata files, gzipped JSON lines or 2014 Python literals),
-- "games2018" (shared/data/amazon-games-2018: sequences.txt + items.tsv, already title-filtered,
-- de-duplicated, 5-core and time-ordered; titles only) and "synthetic" (recx.data.synthetic).
--
-- Randomness: users are shuffled and sampled with the splitmix64 generator of
-- recx.data.synthetic (seed 2022 for the first stage, 2023 for filter_v3, as SPEC 2 seeds
-- Python's random). Python's Mersenne Twister stream is not reproduced (SPEC pitfall 1), so the
-- ids and the sampled users differ from the reference run while every rule is the same.
local amazon = require "recx.data.amazon"
local filter = require "recx.data.filter"
local readers = require "recx.data.readers"
local stats = require "recx.data.stats"
local synthetic = require "recx.data.synthetic"
local core = require "recx.core"
local fs = require "recx.util.fs"

local M = {}

-- ---- small helpers -------------------------------------------------------------------------

-- The bytes of s that form valid UTF-8, in order (Python's decode(errors="ignore") after
-- encode: invalid bytes are dropped one by one).
local function utf8_clean(s)
  if utf8.len(s) then return s end
  local parts, i = {}, 1
  while i <= #s do
    local ok, bad = utf8.len(s, i)
    if ok then
      parts[#parts + 1] = s:sub(i)
      break
    end
    parts[#parts + 1] = s:sub(i, bad - 1)
    i = bad + 1
  end
  return table.concat(parts)
end
M.utf8_clean = utf8_clean

local function replace_plain(s, from, to)
  local out, i = {}, 1
  while true do
    local a, b = s:find(from, i, true)
    if not a then break end
    out[#out + 1] = s:sub(i, a - 1)
    out[#out + 1] = to
    i = b + 1
  end
  if i == 1 then return s end
  out[#out + 1] = s:sub(i)
  return table.concat(out)
end

-- SPEC 2.1 step 6: "\n\t" -> " ", then the UTF-8 round trip.
local function clean_text(s) return utf8_clean(replace_plain(s, "\n\t", " ")) end

-- Python's str.strip(' \t\n!.,;?/:').
local function strip(s)
  return (s:gsub("^[ \t\n!%.,;%?/:]+", ""):gsub("[ \t\n!%.,;%?/:]+$", ""))
end
M.strip = strip

-- Shuffles `list` in place (Fisher-Yates from the end, like Python's random.shuffle).
local function shuffle(rng, list)
  for i = #list, 2, -1 do
    local j = rng.int(1, i)
    list[i], list[j] = list[j], list[i]
  end
  return list
end

-- k distinct entries of list in draw order (a partial Fisher-Yates on a copy).
local function sample(rng, list, k)
  local pool = {}
  for i, v in ipairs(list) do pool[i] = v end
  local n = #pool
  local out = {}
  for i = 1, math.min(k, n) do
    local j = rng.int(i, n)
    pool[i], pool[j] = pool[j], pool[i]
    out[i] = pool[i]
  end
  return out
end

-- ---- metadata ------------------------------------------------------------------------------

local DROP_KEYS = {related = true, imUrl = true, imageURL = true, imageURLHighRes = true}

-- SPEC 2.1 step 6: a copy of the record without related / imUrl / imageURL / imageURLHighRes,
-- title and description (a string or a list of strings) cleaned.
function M.clean_metadata(rec)
  local out = {}
  for k, v in pairs(rec) do
    if not DROP_KEYS[k] then out[k] = v end
  end
  if type(out.title) == "string" then out.title = clean_text(out.title) end
  local d = out.description
  if type(d) == "string" then
    out.description = clean_text(d)
  elseif type(d) == "table" then
    local c = {}
    for i, e in ipairs(d) do c[i] = type(e) == "string" and clean_text(e) or e end
    out.description = c
  end
  return out
end

-- Strips each string of a list and drops the entries that become empty.
local function strip_list(list)
  local out = {}
  for _, e in ipairs(list) do
    if type(e) == "string" then
      e = strip(e)
      if e ~= "" then out[#out + 1] = e end
    else
      out[#out + 1] = e
    end
  end
  return out
end

-- SPEC 2.2 step 7 (metadata_filter): a copy of rec with title, each feature and description
-- entry (a string description is one entry) and the brand stripped of ' \t\n!.,;?/:'; entries
-- that become empty are dropped (an empty string description is removed). Returns the copy and
-- a warning when the title would become empty (the title is then kept as it was: the reference
-- asserts instead).
function M.metadata_filter(rec)
  local out = {}
  for k, v in pairs(rec) do out[k] = v end
  local warning
  if type(out.title) == "string" then
    local t = strip(out.title)
    if t == "" then
      warning = "title " .. string.format("%q", out.title) .. " is empty once stripped; kept as it was"
    else
      out.title = t
    end
  end
  if type(out.feature) == "table" then out.feature = strip_list(out.feature) end
  if type(out.description) == "table" then
    out.description = strip_list(out.description)
  elseif type(out.description) == "string" then
    local d = strip(out.description)
    out.description = d ~= "" and d or nil
  end
  if type(out.brand) == "string" then out.brand = strip(replace_plain(out.brand, "\n    \n    ", " ")) end
  return out, warning
end

-- ---- sources -------------------------------------------------------------------------------

-- The shared data folder: $RECX_DATA, else <repository>/../shared/data.
function M.shared_data_dir()
  local env = os.getenv("RECX_DATA")
  if env and env ~= "" then return env end
  local src = debug.getinfo(1, "S").source
  local dir = src:match("^@(.*)/lua/recx/data/prepare%.lua$")
  return (dir or ".") .. "/../shared/data"
end

local RAW_HELP = "get Video_Games_5.json.gz and meta_Video_Games.json.gz from " ..
  "https://nijianmo.github.io/amazon/index.html (or pass reviews_url= / meta_url=), " ..
  "or run with source=games2018 or source=synthetic"

local function need_file(path, what, help)
  if path == nil or path == "" then
    error(string.format("prepare_data: no %s file given (%s=...): %s", what, what, help), 0)
  end
  if not fs.exists(path) then
    error(string.format("prepare_data: %s file %s not found: %s", what, path, help), 0)
  end
end

-- Downloads url to path through core.net when the file is absent.
local function maybe_download(url, path, what)
  if url == nil or url == "" or fs.exists(path or "") then return end
  if path == nil or path == "" then
    error(string.format("prepare_data: %s_url given without %s= (where to save it)", what, what), 0)
  end
  local net = core.net
  if type(net) ~= "table" or type(net.download) ~= "function" then
    error(string.format("prepare_data: downloading %s needs core.net (http download), which this build lacks; " ..
      "download %s yourself to %s", what, url, path), 0)
  end
  io.stderr:write(string.format("prepare_data: downloading %s to %s\n", url, path))
  net.download(url, path)
end

-- raw Amazon files -> source {users, items, times, ratings, n, meta = {asin -> record}, report}
function M.load_raw(opts)
  maybe_download(opts.meta_url, opts.meta, "meta")
  maybe_download(opts.reviews_url, opts.reviews, "reviews")
  need_file(opts.meta, "meta", RAW_HELP)
  need_file(opts.reviews, "reviews", RAW_HELP)
  -- pass 1: the titled items
  local titles, mst = amazon.read_meta(opts.meta, {fields = {"asin", "title"}, lenient = opts.lenient,
                                                   progress = opts.progress, label = "metadata (titles)"})
  local titled = {}
  for asin, r in pairs(titles) do
    if type(r.title) == "string" and r.title ~= "" then titled[asin] = true end
  end
  local rv, rst = amazon.read_reviews(opts.reviews, {lenient = opts.lenient, progress = opts.progress})
  -- pass 2: full records of the reviewed, titled items only
  local keep = {}
  for i = 1, rv.n do
    if titled[rv.items[i]] then keep[rv.items[i]] = true end
  end
  local meta = amazon.read_meta(opts.meta, {keep = keep, lenient = opts.lenient, progress = opts.progress,
                                            label = "metadata"})
  rv.meta, rv.titled = meta, titled
  rv.report = {reviews_lines = rst.lines, reviews_skipped = rst.skipped, meta_lines = mst.lines,
               meta_skipped = mst.skipped, meta_duplicates = mst.duplicates}
  return rv
end

-- games2018 -> the same form; times are positions (the file is already in time order).
function M.load_games2018(opts)
  local dir = (opts.data_dir and opts.data_dir ~= "") and opts.data_dir or (M.shared_data_dir() .. "/amazon-games-2018")
  local help = "the folder shared/data/amazon-games-2018 (sequences.txt, items.tsv; see its SOURCE.md) is " ..
    "expected there; pass data_dir=..., or run with source=synthetic"
  need_file(dir .. "/sequences.txt", "sequences", help)
  need_file(dir .. "/items.tsv", "items", help)
  local seqs, sst = readers.read_sequences(dir .. "/sequences.txt", {lenient = opts.lenient})
  local items = readers.read_items_tsv(dir .. "/items.tsv", {lenient = opts.lenient})
  -- reviewerIDs when the LC-Rec user map is there, else "user<id>"
  local uname = {}
  local umap = dir .. "/lcrec-genrec/Games.user2id"
  if fs.exists(umap) then
    for line in io.lines(umap) do
      local name, id = line:match("^(%S+)\t(%d+)\r?$")
      if name then uname[math.tointeger(tonumber(id))] = name end
    end
  end
  local src = {users = {}, items = {}, times = {}, ratings = {}, n = 0, meta = {}, titled = {}}
  local asin_of = {}
  for id, it in pairs(items) do
    asin_of[id] = it.asin
    src.meta[it.asin] = {asin = it.asin, title = it.title}
    if it.title ~= "" then src.titled[it.asin] = true end
  end
  local missing_items = 0
  for _, uid in ipairs(sst.order) do
    local user = uname[uid] or ("user" .. uid)
    for pos, id in ipairs(seqs[uid]) do
      local asin = asin_of[id]
      if asin then
        local n = src.n + 1
        src.n = n
        src.users[n], src.items[n], src.times[n], src.ratings[n] = user, asin, pos, false
      else
        missing_items = missing_items + 1
      end
    end
  end
  src.report = {sequences_users = sst.users, sequences_interactions = sst.interactions,
                items_without_metadata = missing_items,
                missing_fields = {"brand", "category", "description", "feature"},
                user_names = next(uname) and "lcrec-genrec/Games.user2id" or "user<id>"}
  return src
end

-- synthetic -> the same form.
function M.load_synthetic(opts)
  local data = synthetic.generate {seed = opts.syn_seed or 1, n_users = opts.syn_users or 1000,
                                   n_items = opts.syn_items or 400}
  local src = {users = {}, items = {}, times = {}, ratings = {}, n = 0, meta = {}, titled = {}}
  for _, it in ipairs(data.items) do
    src.meta[it.asin] = {asin = it.asin, title = it.title, brand = it.brand, feature = it.features,
                         description = it.description, category = {"Video Games", it.platform, it.genre}}
    src.titled[it.asin] = true
  end
  for u, seq in ipairs(data.sequences) do
    for pos, id in ipairs(seq) do
      local n = src.n + 1
      src.n = n
      src.users[n], src.items[n], src.times[n], src.ratings[n] = synthetic.user_name(u), data.items[id].asin, pos, false
    end
  end
  src.report = {}
  return src
end

-- ---- SPEC 2.1 --------------------------------------------------------------------------------

local function count_users_items(seqs)
  local u, i, n, seen = 0, 0, 0, {}
  for _, s in pairs(seqs) do
    u = u + 1
    n = n + #s
    for _, it in ipairs(s) do
      if not seen[it] then seen[it] = true; i = i + 1 end
    end
  end
  return {users = u, items = i, interactions = n}
end

-- The k-core of seqs (recorded as a stage) and the users of `order` that survive it, in order.
local function kcore_users(seqs, order, k, stages)
  local cored, rounds = filter.kcore(seqs, k)
  local c = count_users_items(cored)
  c.step = k .. "-core"
  c.rounds = rounds
  stages[#stages + 1] = c
  local user_order = {}
  for _, user in ipairs(order) do
    if cored[user] then user_order[#user_order + 1] = user end
  end
  return cored, user_order
end

-- preprocess(src, {seed = 2022, k = 5}) -> {seqs = {[uid] = {item id...}}, user2id, item2id,
-- id2user, id2item, metadata = {[item id] = record}, stages = {...}}
function M.preprocess(src, opts)
  local k = opts.k or 5
  local stages = {}
  -- title filter, rating rule, de-duplication (first record kept), grouping in file order
  local recs, order, seen = {}, {}, {}
  local kept, dups, untitled = 0, 0, 0
  for i = 1, src.n do
    local user, item, rating = src.users[i], src.items[i], src.ratings[i]
    if not src.titled[item] or (rating and rating <= -0.1) then
      untitled = untitled + 1
    else
      local s = seen[user]
      if not s then
        s = {}
        seen[user] = s
        recs[user] = {}
        order[#order + 1] = user
      end
      if s[item] then
        dups = dups + 1
      else
        s[item] = true
        local r = recs[user]
        r[#r + 1] = i
        kept = kept + 1
      end
    end
  end
  stages[#stages + 1] = {step = "title filter and de-duplication", interactions = kept, dropped_untitled = untitled,
                         dropped_duplicates = dups, users = #order}
  -- stable sort by time
  local seqs = {}
  local times = src.times
  for _, user in ipairs(order) do
    local r = recs[user]
    table.sort(r, function(a, b)
      if times[a] ~= times[b] then return times[a] < times[b] end
      return a < b
    end)
    local s = {}
    for j, idx in ipairs(r) do s[j] = src.items[idx] end
    seqs[user] = s
  end
  local cored, user_order = kcore_users(seqs, order, k, stages)
  -- shuffled users, items by first appearance
  shuffle(synthetic.new_rng(opts.seed or 2022), user_order)
  local r = filter.reindex(cored, user_order)
  r.metadata = {}
  for id, asin in ipairs(r.id2item) do
    r.metadata[id] = M.clean_metadata(src.meta[asin] or {asin = asin})
  end
  r.stages = stages
  return r
end

-- ---- SPEC 2.2 --------------------------------------------------------------------------------

-- filter_v3(stage1, {seed = 2023, item_thred = 2000, user_thred = 4000, k = 5}) -> the same form
-- as preprocess, re-indexed from 1, with metadata passed through metadata_filter.
function M.filter_v3(s1, opts)
  local k = opts.k or 5
  local item_thred, user_thred = opts.item_thred or 2000, opts.user_thred or 4000
  local stages, warnings = {}, {}
  -- top items by frequency; ties by id (first appearance), as Counter.most_common keeps them
  local count = {}
  for _, s in ipairs(s1.seqs) do
    for _, id in ipairs(s) do count[id] = (count[id] or 0) + 1 end
  end
  local ids = {}
  for id = 1, #s1.id2item do ids[id] = id end
  table.sort(ids, function(a, b)
    if count[a] ~= count[b] then return count[a] > count[b] end
    return a < b
  end)
  local top = {}
  for r = 1, math.min(item_thred, #ids) do top[ids[r]] = true end
  if #ids > item_thred and count[ids[item_thred + 1]] <= 5 then
    warnings[#warnings + 1] = string.format("item %d of the frequency order has %d interactions (the reference asserts > 5)",
      item_thred + 1, count[ids[item_thred + 1]])
  end
  -- users with >= k of the top items
  local eligible, restricted = {}, {}
  for uid, s in ipairs(s1.seqs) do
    local t = {}
    for _, id in ipairs(s) do
      if top[id] then t[#t + 1] = id end
    end
    if #t >= k then
      eligible[#eligible + 1] = uid
      restricted[uid] = t
    end
  end
  stages[#stages + 1] = {step = "top " .. item_thred .. " items, users with >= " .. k, users = #eligible,
                         items = math.min(item_thred, #ids)}
  local rng = synthetic.new_rng(opts.seed or 2023)
  if #eligible < user_thred then
    warnings[#warnings + 1] = string.format("only %d users are eligible, fewer than user_thred=%d: all kept",
      #eligible, user_thred)
  end
  local sampled = sample(rng, eligible, user_thred)
  -- back to raw keys for the k-core and the final re-indexing
  local seqs, order = {}, {}
  for i, uid in ipairs(sampled) do
    local user = s1.id2user[uid]
    local s = {}
    for j, id in ipairs(restricted[uid]) do s[j] = s1.id2item[id] end
    seqs[user] = s
    order[i] = user
  end
  stages[#stages + 1] = {step = "sample " .. user_thred .. " users", users = #sampled}
  local cored, user_order = kcore_users(seqs, order, k, stages)
  shuffle(rng, user_order)
  local r = filter.reindex(cored, user_order)
  r.metadata = {}
  local old_id = s1.item2id
  for id, asin in ipairs(r.id2item) do
    local rec, warn = M.metadata_filter(s1.metadata[old_id[asin]])
    r.metadata[id] = rec
    if warn then warnings[#warnings + 1] = asin .. ": " .. warn end
  end
  r.stages, r.warnings = stages, warnings
  return r
end

-- ---- outputs -------------------------------------------------------------------------------

local function write_file(dir, name, parts)
  local path = dir .. "/" .. name
  local f, err = io.open(path, "wb")
  if not f then error("prepare_data: cannot write " .. path .. ": " .. tostring(err), 0) end
  f:write(table.concat(parts))
  f:close()
end

local META_FIRST = {"asin", "title", "brand", "category", "feature", "description"}

-- Writes every output file of r (a filter_v3 result) into dir; returns the stats table.
function M.write(r, dir, info)
  if not fs.mkdir_p(dir) then error("prepare_data: cannot create the folder " .. dir, 0) end
  local seqs = r.seqs
  local seq_lines, hist_lines, train, test = {}, {"user_id\titem_seq\n"}, {"user_id\titem_id\n"}, {"user_id\titem_id\n"}
  for uid = 1, #seqs do
    local s = seqs[uid]
    seq_lines[uid] = uid .. " " .. table.concat(s, " ") .. "\n"
    hist_lines[uid + 1] = uid .. "\t" .. table.concat(s, ",") .. "\n"
  end
  local split = filter.split(seqs, 9)
  for _, row in ipairs(split.train) do train[#train + 1] = row.user .. "\t" .. row.item .. "\n" end
  for _, row in ipairs(split.test) do test[#test + 1] = row.user .. "\t" .. row.item .. "\n" end
  write_file(dir, "sequential_data.txt", seq_lines)
  write_file(dir, "user_history.tsv", hist_lines)
  write_file(dir, "train.tsv", train)
  write_file(dir, "valid.tsv", test)
  write_file(dir, "test.tsv", test)
  write_file(dir, "train_ids.csv", train)
  write_file(dir, "test_ids.csv", test)
  local meta = {}
  for id = 1, #r.id2item do meta[id] = stats.encode(r.metadata[id], META_FIRST) .. "\n" end
  write_file(dir, "metadata.json", meta)
  local function map(keys, values)
    local parts = {}
    for i = 1, #keys do parts[i] = stats.string_json(keys[i]) .. ": " .. stats.string_json(values[i]) end
    return "{" .. table.concat(parts, ", ") .. "}"
  end
  local unames, uids, inames, iids = {}, {}, {}, {}
  for u = 1, #r.id2user do unames[u] = r.id2user[u]; uids[u] = tostring(u) end
  for i = 1, #r.id2item do inames[i] = r.id2item[i]; iids[i] = tostring(i) end
  write_file(dir, "datamaps.json", {"{\"user2id\": ", map(unames, uids), ", \"item2id\": ", map(inames, iids),
    ", \"id2user\": ", map(uids, unames), ", \"id2item\": ", map(iids, inames), "}\n"})
  local st = stats.compute(seqs)
  st.train_rows, st.test_rows = #split.train, #split.test
  for k, v in pairs(info or {}) do st[k] = v end
  write_file(dir, "stats.json", {stats.encode(st, {"users", "items", "interactions", "sparsity"}), "\n"})
  return st
end

-- ---- the whole run -------------------------------------------------------------------------

local SOURCES = {raw = M.load_raw, games2018 = M.load_games2018, synthetic = M.load_synthetic}

-- run(cfg) with the keys of recipes/prepare_data.lua; returns the stats table (also written to
-- out_dir/stats.json) after printing the stats line.
function M.run(cfg)
  local source = cfg.source
  if source == "auto" then source = (cfg.reviews ~= "" or cfg.reviews_url ~= "") and "raw" or "games2018" end
  local load = SOURCES[source]
  if not load then
    error(string.format("prepare_data: source=%s: expected raw, games2018, synthetic or auto", tostring(source)), 0)
  end
  local t0 = core.clock()
  local src = load(cfg)
  local s1 = M.preprocess(src, {seed = cfg.seed, k = cfg.k})
  local s2 = M.filter_v3(s1, {seed = cfg.filter_seed, item_thred = cfg.item_thred, user_thred = cfg.user_thred, k = cfg.k})
  local stages = {{step = "source " .. source, interactions = src.n}}
  for _, s in ipairs(s1.stages) do stages[#stages + 1] = s end
  stages[#stages + 1] = {step = "stage 1 (SPEC 2.1) result", users = #s1.seqs, items = #s1.id2item}
  for _, s in ipairs(s2.stages) do stages[#stages + 1] = s end
  local st = M.write(s2, cfg.out_dir, {source = source, seed = cfg.seed, filter_seed = cfg.filter_seed,
    item_thred = cfg.item_thred, user_thred = cfg.user_thred, k = cfg.k, stages = stages,
    source_report = src.report, warnings = s2.warnings})
  for _, w in ipairs(s2.warnings) do io.stderr:write("prepare_data: warning: " .. w .. "\n") end
  if src.report.missing_fields then
    print("prepare_data: source " .. source .. " has titles only; missing metadata fields: " ..
      table.concat(src.report.missing_fields, ", "))
  end
  print(string.format("prepare_data: %s (%.1fs) -> %s", stats.line(st), core.clock() - t0, cfg.out_dir))
  return st
end

return M
