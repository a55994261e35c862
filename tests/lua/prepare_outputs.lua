-- prepare_outputs.lua — reads back the files of recipes/prepare_data.lua and checks that they
-- agree with each other (used by test_prepare.lua and test_prepare_games2018.lua).
--
-- Owns: an independent reader of sequential_data.txt, datamaps.json (through cjson),
-- metadata.json, the split files and stats.json, and the consistency rules: user ids 1..U in
-- order, item ids 1..I numbered by first appearance walking users 1..U, datamaps both ways,
-- metadata line k for item k with the mapped asin, train rows = interactions - 2 x users at
-- positions 2..n-1, valid = test = one row per user (the last item), user_history = the
-- sequences, and stats.json equal to counts made here.
local T = require "harness"
local cjson = require "cjson"

local M = {}

local function lines(path)
  local out = {}
  for line in io.lines(path) do out[#out + 1] = line end
  return out
end
M.lines = lines

local function read_all(path)
  local f = assert(io.open(path, "rb"))
  local s = f:read("a")
  f:close()
  return s
end

-- Returns {seqs = {[uid] = {iid...}}, maps = datamaps, meta = {[iid] = record}, stats} after
-- checking every rule above (each one is a harness assertion).
function M.check(dir)
  local seqs = {}
  for i, line in ipairs(lines(dir .. "/sequential_data.txt")) do
    local ids = {}
    for tok in line:gmatch("%S+") do ids[#ids + 1] = math.tointeger(tonumber(tok)) end
    T.eq(ids[1], i, "sequential_data line " .. i .. " starts with its user id")
    seqs[i] = table.move(ids, 2, #ids, 1, {})
  end
  local U = #seqs
  local maps = cjson.decode(read_all(dir .. "/datamaps.json"))
  local next_item, bad_order, interactions = 1, 0, 0
  local seen, short = {}, 0
  for u = 1, U do
    if #seqs[u] < 5 then short = short + 1 end
    interactions = interactions + #seqs[u]
    for _, it in ipairs(seqs[u]) do
      if not seen[it] then
        if it ~= next_item then bad_order = bad_order + 1 end
        seen[it] = true
        next_item = next_item + 1
      end
    end
  end
  local I = next_item - 1
  T.eq(short, 0, "every user has >= 5 items")
  T.eq(bad_order, 0, "items numbered by first appearance")
  local item_users = {}
  for u = 1, U do
    for _, it in ipairs(seqs[u]) do item_users[it] = (item_users[it] or 0) + 1 end
  end
  local few = 0
  for it = 1, I do if (item_users[it] or 0) < 5 then few = few + 1 end end
  T.eq(few, 0, "every item has >= 5 users")
  -- datamaps
  local n_u, n_i, bad_maps = 0, 0, 0
  for name, id in pairs(maps.user2id) do
    n_u = n_u + 1
    if maps.id2user[id] ~= name then bad_maps = bad_maps + 1 end
  end
  for asin, id in pairs(maps.item2id) do
    n_i = n_i + 1
    if maps.id2item[id] ~= asin then bad_maps = bad_maps + 1 end
  end
  T.eq(n_u, U, "user2id size")
  T.eq(n_i, I, "item2id size")
  T.eq(bad_maps, 0, "datamaps agree both ways")
  -- metadata
  local meta = {}
  local bad_meta = 0
  for k, line in ipairs(lines(dir .. "/metadata.json")) do
    local rec = cjson.decode(line)
    meta[k] = rec
    if rec.asin ~= maps.id2item[tostring(k)] or type(rec.title) ~= "string" or rec.title == "" then
      bad_meta = bad_meta + 1
    end
  end
  T.eq(#meta, I, "metadata.json has one line per item")
  T.eq(bad_meta, 0, "metadata line k is item k with a title")
  -- splits
  local train = lines(dir .. "/train.tsv")
  local test = lines(dir .. "/test.tsv")
  T.eq(train[1], "user_id\titem_id")
  T.eq(test[1], "user_id\titem_id")
  T.eq(#train - 1, interactions - 2 * U, "train rows = interactions - 2 x users")
  T.eq(#test - 1, U, "one test row per user")
  T.eq(read_all(dir .. "/valid.tsv"), read_all(dir .. "/test.tsv"), "valid = test")
  T.eq(read_all(dir .. "/train_ids.csv"), read_all(dir .. "/train.tsv"), "train_ids.csv = train.tsv")
  T.eq(read_all(dir .. "/test_ids.csv"), read_all(dir .. "/test.tsv"), "test_ids.csv = test.tsv")
  local row, bad_train = 2, 0
  for u = 1, U do
    local s = seqs[u]
    for pos = 2, #s - 1 do
      if train[row] ~= u .. "\t" .. s[pos] then bad_train = bad_train + 1 end
      row = row + 1
    end
  end
  T.eq(bad_train, 0, "train rows are positions 2..n-1 in user order")
  local bad_test, bad_hist = 0, 0
  local hist = lines(dir .. "/user_history.tsv")
  T.eq(hist[1], "user_id\titem_seq")
  for u = 1, U do
    if test[u + 1] ~= u .. "\t" .. seqs[u][#seqs[u]] then bad_test = bad_test + 1 end
    if hist[u + 1] ~= u .. "\t" .. table.concat(seqs[u], ",") then bad_hist = bad_hist + 1 end
  end
  T.eq(bad_test, 0, "test row = last item")
  T.eq(bad_hist, 0, "user_history = the sequence")
  -- stats.json
  local st = cjson.decode(read_all(dir .. "/stats.json"))
  T.eq(st.users, U); T.eq(st.items, I); T.eq(st.interactions, interactions)
  T.near(st.sparsity, 1 - interactions / (U * I), 1e-12, "sparsity")
  T.eq(st.train_rows, interactions - 2 * U); T.eq(st.test_rows, U)
  local hist_total = 0
  for _, pair in ipairs(st.len_histogram) do hist_total = hist_total + pair[1] * pair[2] end
  T.eq(hist_total, interactions, "length histogram sums to the interactions")
  return {seqs = seqs, maps = maps, meta = meta, stats = st}
end

return M
