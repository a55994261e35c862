-- recx.data.amazon — readers for the raw Amazon review and metadata files.
--
-- Owns: reading Amazon Review Data files (2018: Video_Games_5.json.gz reviews and
-- meta_Video_Games.json.gz metadata, JSON lines; 2014: reviews_*.json.gz and meta_*.json.gz,
-- whose metadata lines are Python dict literals) through the C record reader (core.data.records:
-- zlib, one object per line, either syntax detected per line), with a progress bar over the
-- compressed bytes on long reads. Only the named fields of each line become Lua values, which is
-- what makes reading millions of lines fast.
--
-- Errors: a malformed line raises "<path>:<line>: expected ... at column N, got ..."; with
-- opts.lenient it is skipped and counted (stats.skipped, stats.first_skip, and one line on
-- stderr). A line without a required field is malformed in the same way ("<path>:<line>: missing
-- field 'asin'").
local core = require "recx.core"
local progress = require "recx.progress"

local M = {}

M.null = core.data.null -- the value of JSON null / Python None

local function check_args(fn, path, opts)
  if type(path) ~= "string" then
    error(string.format("amazon.%s: argument #1: expected a file path string, got %s", fn, type(path)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("amazon.%s: argument #2: expected an options table or nil, got %s", fn, type(opts)), 3)
  end
  return opts or {}
end

-- Calls fn(record, reader) for every object of the file; fn returns nil, or a message for a
-- record that is malformed at a higher level (a missing field). Returns the reader's stats.
-- opts: fields, lenient, syntax, progress (default true), label.
function M.each_record(path, opts, fn)
  opts = check_args("each_record", path, opts)
  local reader <close> = core.data.records(path, {fields = opts.fields, lenient = opts.lenient,
                                                   syntax = opts.syntax or "auto"})
  local _, size = reader:progress()
  local bar = opts.progress ~= false and progress.bar({total = size, label = opts.label or path}) or nil
  local bad, first_bad = 0, nil
  local n = 0
  while true do
    local rec = reader:next()
    if rec == nil then break end
    local msg = fn(rec, reader)
    if msg then
      msg = string.format("%s:%d: %s", path, reader:lineno(), msg)
      if not opts.lenient then error(msg, 0) end
      bad = bad + 1
      first_bad = first_bad or msg
    end
    n = n + 1
    if bar and n % 8192 == 0 then bar:update((reader:progress())) end
  end
  if bar then
    bar:update(size)
    bar:finish({lines = n})
  end
  local st = reader:stats()
  st.skipped = st.skipped + bad
  st.records = st.records - bad
  st.first_skip = st.first_skip or first_bad
  if st.skipped > 0 then
    io.stderr:write(string.format("amazon: %s: skipped %d malformed line(s) (first: %s)\n", path, st.skipped,
      st.first_skip))
  end
  return st
end

local REVIEW_FIELDS = {"reviewerID", "asin", "unixReviewTime", "overall"}

-- read_reviews(path [, opts]) -> columns {users = {reviewerID...}, items = {asin...},
-- times = {unixReviewTime...}, ratings = {overall or false...}} in file order, stats.
-- reviewerID, asin (strings) and unixReviewTime (an integer) are required; overall is optional.
function M.read_reviews(path, opts)
  opts = check_args("read_reviews", path, opts)
  local users, items, times, ratings = {}, {}, {}, {}
  local n = 0
  local st = M.each_record(path, {fields = REVIEW_FIELDS, lenient = opts.lenient, progress = opts.progress,
                                  label = opts.label or "reviews"}, function(r)
    local u, it, t = r.reviewerID, r.asin, r.unixReviewTime
    if type(u) ~= "string" then return "missing field 'reviewerID' (a string)" end
    if type(it) ~= "string" then return "missing field 'asin' (a string)" end
    if math.type(t) ~= "integer" then return "missing field 'unixReviewTime' (an integer)" end
    n = n + 1
    users[n], items[n], times[n] = u, it, t
    ratings[n] = type(r.overall) == "number" and r.overall or false
  end)
  return {users = users, items = items, times = times, ratings = ratings, n = n}, st
end

-- read_meta(path [, opts]) -> {asin -> record}, stats (+ stats.duplicates). opts.fields limits
-- the keys read (asin is always read); opts.keep = {asin -> true} keeps only those items. A
-- repeated asin replaces the earlier record (as a Python dict keyed by asin would).
function M.read_meta(path, opts)
  opts = check_args("read_meta", path, opts)
  local fields = opts.fields
  if fields then
    local f, has_asin = {}, false
    for i, k in ipairs(fields) do f[i] = k; has_asin = has_asin or k == "asin" end
    if not has_asin then f[#f + 1] = "asin" end
    fields = f
  end
  local keep = opts.keep
  local meta, dups = {}, 0
  local st = M.each_record(path, {fields = fields, lenient = opts.lenient, progress = opts.progress,
                                  label = opts.label or "metadata"}, function(r)
    local asin = r.asin
    if type(asin) ~= "string" then return "missing field 'asin' (a string)" end
    if keep and not keep[asin] then return nil end
    if meta[asin] then dups = dups + 1 end
    meta[asin] = r
  end)
  st.duplicates = dups
  return meta, st
end

return M
