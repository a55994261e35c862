-- recx.data.readers — parsers for the real recommendation data files in shared/data.
--
-- Owns: read_sequences (amazon-games-2018/sequences.txt: "user_id item_id item_id ..." per
-- line), read_items_tsv (items.tsv: "item_id<TAB>asin<TAB>llmrank_item_id<TAB>twin_ambiguous<TAB>
-- title" after a header line; titles HTML-decoded) and read_user_item_pairs (SASRec's Video.txt:
-- "user_id item_id" per line, one interaction each). Ids are non-negative integers.
--
-- Every reader returns (data, stats). A malformed line raises
--   "readers: <path>:<line>: expected ..., got ..."
-- unless opts.lenient is true: then the line is skipped, stats.skipped counts it,
-- stats.first_skip keeps its message, and one summary line goes to stderr.
local html = require "recx.data.html"

local M = {}

local function check_args(fn, path, opts)
  if type(path) ~= "string" then
    error(string.format("readers.%s: argument #1: expected a file path string, got %s", fn, type(path)), 3)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error(string.format("readers.%s: argument #2: expected an options table or nil, got %s", fn, type(opts)), 3)
  end
  return opts or {}
end

local function open(path)
  local f, err = io.open(path, "rb")
  if not f then error("readers: cannot open " .. path .. ": " .. tostring(err), 0) end
  return f
end

-- Calls row(line, lineno) for every line (trailing "\r" removed); row returns nil when the line
-- is fine, or "expected ..." text when it is malformed. Returns (lines, skipped, first_skip).
local function each_line(path, lenient, row)
  local f = open(path)
  local lineno, skipped, first_skip = 0, 0, nil
  for line in f:lines() do
    lineno = lineno + 1
    if line:sub(-1) == "\r" then line = line:sub(1, -2) end
    local bad = row(line, lineno)
    if bad then
      local msg = string.format("readers: %s:%d: %s", path, lineno, bad)
      if not lenient then
        f:close()
        error(msg, 0)
      end
      skipped = skipped + 1
      first_skip = first_skip or msg
    end
  end
  f:close()
  if skipped > 0 then
    io.stderr:write(string.format("readers: %s: skipped %d malformed line(s) (first: %s)\n",
      path, skipped, first_skip))
  end
  return lineno, skipped, first_skip
end

local function int(tok)
  if tok and tok:match("^%d+$") then return math.tointeger(tonumber(tok)) end
  return nil
end

local function quote(s)
  if #s > 40 then s = s:sub(1, 40) .. "..." end
  return string.format("%q", s)
end

-- sequences.txt -> {uid -> {item, ...}} (file order), stats {users, interactions, items, lines,
-- skipped, first_skip, order = {uid, ...} in file order}.
function M.read_sequences(path, opts)
  opts = check_args("read_sequences", path, opts)
  local seqs, order, items_seen = {}, {}, {}
  local interactions, n_items = 0, 0
  local lines, skipped, first_skip = each_line(path, opts.lenient, function(line, lineno)
    local toks = {}
    for tok in line:gmatch("%S+") do toks[#toks + 1] = tok end
    if #toks < 2 then
      return string.format("expected a user id and at least one item id, got %d field(s)", #toks)
    end
    local uid = int(toks[1])
    if not uid then return "expected an integer user id, got " .. quote(toks[1]) end
    if seqs[uid] then return string.format("expected a new user id, got %d again", uid) end
    local items = {}
    for i = 2, #toks do
      local it = int(toks[i])
      if not it then return string.format("expected an integer item id in field %d, got %s", i, quote(toks[i])) end
      items[i - 1] = it
    end
    seqs[uid] = items
    order[#order + 1] = uid
    interactions = interactions + #items
    for _, it in ipairs(items) do
      if not items_seen[it] then items_seen[it] = true; n_items = n_items + 1 end
    end
  end)
  return seqs, { users = #order, interactions = interactions, items = n_items, lines = lines,
                 skipped = skipped, first_skip = first_skip, order = order }
end

local ITEMS_HEADER = "item_id\tasin\tllmrank_item_id\ttwin_ambiguous\ttitle"

-- items.tsv -> {item_id -> {asin=, title=, twin=bool, llmrank_id=}}, stats {items, twins, lines,
-- skipped, first_skip}. The first line must be the header.
function M.read_items_tsv(path, opts)
  opts = check_args("read_items_tsv", path, opts)
  local items = {}
  local n, twins = 0, 0
  local lines, skipped, first_skip = each_line(path, opts.lenient, function(line, lineno)
    if lineno == 1 then
      if line ~= ITEMS_HEADER then return "expected the header " .. quote(ITEMS_HEADER) .. ", got " .. quote(line) end
      return nil
    end
    local f = {}
    for field in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = field end
    if #f ~= 5 then return string.format("expected 5 tab-separated fields, got %d", #f) end
    local id = int(f[1])
    if not id then return "expected an integer item_id, got " .. quote(f[1]) end
    if items[id] then return string.format("expected a new item_id, got %d again", id) end
    if not f[2]:match("^%w+$") then return "expected an alphanumeric asin, got " .. quote(f[2]) end
    local llm = int(f[3])
    if not llm then return "expected an integer llmrank_item_id, got " .. quote(f[3]) end
    if f[4] ~= "0" and f[4] ~= "1" then return "expected twin_ambiguous 0 or 1, got " .. quote(f[4]) end
    if f[5] == "" then return "expected a non-empty title" end
    local twin = f[4] == "1"
    items[id] = { asin = f[2], title = html.decode(f[5]), twin = twin, llmrank_id = llm }
    n = n + 1
    if twin then twins = twins + 1 end
  end)
  return items, { items = n, twins = twins, lines = lines, skipped = skipped, first_skip = first_skip }
end

-- Video.txt -> {uid -> {item, ...}} (each user's items in file order), stats {users,
-- interactions, items, lines, skipped, first_skip, order = {uid, ...} by first appearance}.
function M.read_user_item_pairs(path, opts)
  opts = check_args("read_user_item_pairs", path, opts)
  local seqs, order, items_seen = {}, {}, {}
  local interactions, n_items = 0, 0
  local lines, skipped, first_skip = each_line(path, opts.lenient, function(line)
    local a, b, rest = line:match("^%s*(%S+)%s+(%S+)%s*(.-)$")
    if not a or rest ~= "" then
      local n = 0
      for _ in line:gmatch("%S+") do n = n + 1 end
      return string.format("expected 2 fields \"user_id item_id\", got %d", n)
    end
    local uid, it = int(a), int(b)
    if not uid then return "expected an integer user_id, got " .. quote(a) end
    if not it then return "expected an integer item_id, got " .. quote(b) end
    local s = seqs[uid]
    if not s then s = {}; seqs[uid] = s; order[#order + 1] = uid end
    s[#s + 1] = it
    interactions = interactions + 1
    if not items_seen[it] then items_seen[it] = true; n_items = n_items + 1 end
  end)
  return seqs, { users = #order, interactions = interactions, items = n_items, lines = lines,
                 skipped = skipped, first_skip = first_skip, order = order }
end

return M
