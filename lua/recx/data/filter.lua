-- recx.data.filter — preprocessing of user interaction sequences (SPEC 2.1 steps 2-5 and 2.3).
--
-- Owns: de-duplication of (user, item) pairs, the iterative k-core filter, re-indexing of users
-- and items from 1, and the leave-one-out split with left-padded histories. Sequences are a
-- table {uid -> list of item ids in time order}; uids and item ids may be any Lua values usable
-- as table keys (strings from a data file, or numbers). Nothing here shuffles: the caller passes
-- the user order (SPEC 2.1 step 5 shuffles users before re-indexing).
local M = {}

-- level: 3 from a public function (fail < function < caller), 4 from check_seqs
local function fail(fn, arg, msg, level)
  error(string.format("filter.%s: argument #%d: %s", fn, arg, msg), level or 3)
end

local function check_seqs(fn, seqs)
  if type(seqs) ~= "table" then fail(fn, 1, "expected a table {uid -> list of items}, got " .. type(seqs), 4) end
  for uid, items in pairs(seqs) do
    if type(items) ~= "table" then
      fail(fn, 1, string.format("user %s: expected a list of items, got %s", tostring(uid), type(items)), 4)
    end
  end
end

-- A copy of `seqs` where each user keeps only the first occurrence of every item.
function M.dedup(seqs)
  check_seqs("dedup", seqs)
  local out = {}
  for uid, items in pairs(seqs) do
    local seen, kept = {}, {}
    for _, it in ipairs(items) do
      if not seen[it] then
        seen[it] = true
        kept[#kept + 1] = it
      end
    end
    out[uid] = kept
  end
  return out
end

-- The iterative k-core of `seqs` (already de-duplicated, so an item's count is its number of
-- users): drop users with fewer than k items and items with fewer than k users, and repeat until
-- nothing changes. Returns the filtered copy and the number of rounds that removed something.
-- The k-core is the largest sub-set where every user and item has >= k interactions, so the
-- result does not depend on the order of removals.
function M.kcore(seqs, k)
  check_seqs("kcore", seqs)
  if math.type(k) ~= "integer" or k < 1 then
    fail("kcore", 2, "expected a positive integer k, got " .. tostring(k))
  end
  local cur = {}
  for uid, items in pairs(seqs) do
    local copy = {}
    for i, it in ipairs(items) do copy[i] = it end
    cur[uid] = copy
  end
  local rounds = 0
  while true do
    local changed = false
    -- users with < k items
    for uid, items in pairs(cur) do
      if #items < k then
        cur[uid] = nil
        changed = true
      end
    end
    -- items with < k users
    local count = {}
    for _, items in pairs(cur) do
      for _, it in ipairs(items) do count[it] = (count[it] or 0) + 1 end
    end
    for uid, items in pairs(cur) do
      local kept = {}
      for _, it in ipairs(items) do
        if count[it] >= k then kept[#kept + 1] = it end
      end
      if #kept ~= #items then
        cur[uid] = kept
        changed = true
      end
    end
    if not changed then break end
    rounds = rounds + 1
  end
  return cur, rounds
end

-- Re-index: user_order is a list of the uids of `seqs` (each exactly once); user user_order[i]
-- becomes user i, and items are numbered 1.. in order of first appearance while walking the
-- users in that order. Returns {seqs = {[new uid] = list of new item ids}, user2id, item2id,
-- id2user, id2item}.
function M.reindex(seqs, user_order)
  check_seqs("reindex", seqs)
  if type(user_order) ~= "table" then fail("reindex", 2, "expected a list of uids, got " .. type(user_order)) end
  local n = 0
  for _ in pairs(seqs) do n = n + 1 end
  if #user_order ~= n then
    fail("reindex", 2, string.format("expected the %d uids of argument #1, got %d", n, #user_order))
  end
  local r = {seqs = {}, user2id = {}, item2id = {}, id2user = {}, id2item = {}}
  for i, uid in ipairs(user_order) do
    if seqs[uid] == nil then fail("reindex", 2, string.format("uid %s (entry %d) has no sequence", tostring(uid), i)) end
    if r.user2id[uid] then fail("reindex", 2, string.format("uid %s appears twice", tostring(uid))) end
    r.user2id[uid] = i
    r.id2user[i] = uid
    local out = {}
    for j, it in ipairs(seqs[uid]) do
      local id = r.item2id[it]
      if not id then
        id = #r.id2item + 1
        r.item2id[it] = id
        r.id2item[id] = it
      end
      out[j] = id
    end
    r.seqs[i] = out
  end
  return r
end

-- The last max_len items of items[1..pos-1], left-padded with 0 to max_len.
local function history(items, pos, max_len)
  local h = {}
  for i = 1, max_len do
    local src = pos - 1 - max_len + i
    h[i] = src >= 1 and items[src] or 0
  end
  return h
end
M.history = history

-- Leave-one-out split (SPEC 2.3) of re-indexed sequences {[uid] = list of ids} for uids
-- 1..#seqs. Train rows are the positions 2..n-1 (the first item has no history, the last is held
-- out); the test row is position n. Each row is {user =, item =, history = left-padded list of
-- max_len ids}. Every user needs n >= 3 (SPEC asserts n >= 5 after the 5-core).
function M.split(seqs, max_len)
  check_seqs("split", seqs)
  if math.type(max_len) ~= "integer" or max_len < 1 then
    fail("split", 2, "expected a positive integer max_len, got " .. tostring(max_len))
  end
  local train, test = {}, {}
  for uid = 1, #seqs do
    local items = seqs[uid]
    local n = #items
    if n < 3 then fail("split", 1, string.format("user %d has %d items, expected at least 3", uid, n)) end
    for pos = 2, n - 1 do
      train[#train + 1] = {user = uid, item = items[pos], history = history(items, pos, max_len)}
    end
    test[#test + 1] = {user = uid, item = items[n], history = history(items, n, max_len)}
  end
  return {train = train, test = test}
end

return M
