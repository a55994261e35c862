-- recx.rec.batches — training and evaluation data for the recommenders, as tensors.
--
-- Owns: reading sequential_data.txt ("uid iid1 iid2 ..." per line, 1-based ids), the SPEC 2.3
-- leave-one-out views of it (train rows = positions 2..n-1 with their left-padded histories, test
-- row = position n, valid = test), the SPEC 3.2 negative sampler (uniform ids re-drawn when equal
-- to the positive or in the user's history, at most 100 re-draws, then an exact draw from the
-- allowed ids so that the result never breaks the rule), the SASRec paper's data split (last item
-- = test, second-last = validation, the rest = train), its training sampler (random users, every
-- position of the last max_len training items, one negative per position outside the user's
-- training items) and the candidates of its sampled evaluation protocol. Random draws come from
-- recx tensor generators only, so a generator's saved state replays a run exactly.
local recx = require "recx"
local filter = require "recx.data.filter"
local readers = require "recx.data.readers"
local tensor = recx.tensor

local M = {}

local function fail(fn, fmt, ...)
  error("batches." .. fn .. ": " .. string.format(fmt, ...), 0)
end

-- read_sequences(path) -> seqs {[uid] = {iid, ...}} for uids 1..U (every uid in 1..U present),
-- n_users = U + 1 and n_items = max iid + 1 (id 0 = padding in both tables).
function M.read_sequences(path)
  local f, err = io.open(path, "r")
  if not f then fail("read_sequences", "cannot open %s: %s (recipes/prepare_data.lua writes it)", path, tostring(err)) end
  local seqs, max_uid, max_iid, lineno = {}, 0, 0, 0
  for line in f:lines() do
    lineno = lineno + 1
    if line:find("%S") then
      local ids = {}
      for tok in line:gmatch("%S+") do
        local v = tok:match("^%d+$") and math.tointeger(tonumber(tok))
        if not v or v < 1 then
          f:close()
          fail("read_sequences", "%s:%d: expected positive integer ids, got '%s'", path, lineno, tok)
        end
        ids[#ids + 1] = v
      end
      local uid = table.remove(ids, 1)
      if #ids == 0 then f:close(); fail("read_sequences", "%s:%d: user %d has no items", path, lineno, uid) end
      if seqs[uid] then f:close(); fail("read_sequences", "%s:%d: user %d appears twice", path, lineno, uid) end
      seqs[uid] = ids
      if uid > max_uid then max_uid = uid end
      for _, i in ipairs(ids) do if i > max_iid then max_iid = i end end
    end
  end
  f:close()
  for u = 1, max_uid do
    if not seqs[u] then fail("read_sequences", "%s: user ids must be 1..%d, %d is missing", path, max_uid, u) end
  end
  return seqs, max_uid + 1, max_iid + 1
end

-- read_pairs(path) -> seqs from "uid iid" lines grouped by user in file order (SASRec's
-- Video.txt), n_users, n_items as read_sequences.
function M.read_pairs(path)
  local seqs = readers.read_user_item_pairs(path)
  local max_uid, max_iid = 0, 0
  for u, s in pairs(seqs) do
    if u > max_uid then max_uid = u end
    for _, i in ipairs(s) do if i > max_iid then max_iid = i end end
  end
  for u = 1, max_uid do seqs[u] = seqs[u] or {} end
  return seqs, max_uid + 1, max_iid + 1
end

-- Per-user sets of every item of the sequence: {[uid] = {[iid] = true}}.
function M.item_sets(seqs)
  local sets = {}
  for u, s in pairs(seqs) do
    local set = {}
    for _, i in ipairs(s) do set[i] = true end
    sets[u] = set
  end
  return sets
end

-- leave_one_out(seqs, max_len) -> {train = {users, items, hist}, test = {users, items, hist,
-- past}} with users/items (N) i64 tensors, hist (N, max_len) i64 left-padded histories, and for
-- the test rows `past`, a Lua list of each user's items before the test item (for masking).
function M.leave_one_out(seqs, max_len)
  local split = filter.split(seqs, max_len)
  local function pack(rows)
    local users, items, hist = {}, {}, {}
    for k, r in ipairs(rows) do users[k], items[k], hist[k] = r.user, r.item, r.history end
    local n = #rows
    return {users = tensor.from(users, {dtype = "i64"}), items = tensor.from(items, {dtype = "i64"}),
      hist = n > 0 and tensor.from(hist, {dtype = "i64"}) or tensor.zeros({0, max_len}, {dtype = "i64"}), n = n}
  end
  local out = {train = pack(split.train), test = pack(split.test)}
  local past = {}
  for u = 1, #seqs do
    local s, p = seqs[u], {}
    for k = 1, #s - 1 do p[k] = s[k] end
    past[u] = p
  end
  out.test.past = past
  return out
end

-- ---- negatives (SPEC 3.2) ------------------------------------------------------------------------

-- negatives(users, positives, n_neg, n_items, sets, generator [, max_retries = 100]) -> (B, n_neg)
-- i64 ids in 1..n_items-1, none equal to its row's positive nor in sets[user] (the user's
-- history). users, positives: Lua lists of B ids. Draws are uniform; an invalid draw is replaced
-- by a fresh uniform draw up to max_retries times, and what is still invalid after that is drawn
-- exactly from the allowed ids (an error when a user has none).
function M.negatives(users, positives, n_neg, n_items, sets, generator, max_retries)
  max_retries = max_retries or 100
  local B = #users
  if B == 0 then return tensor.zeros({0, n_neg}, {dtype = "i64"}) end
  local draws = tensor.randint(1, n_items, {B, n_neg}, {generator = generator}):tolist()
  local function bad(b, v)
    return v == positives[b] or sets[users[b]][v] == true
  end
  local todo = {}
  for b = 1, B do
    for j = 1, n_neg do
      if bad(b, draws[b][j]) then todo[#todo + 1] = {b, j} end
    end
  end
  local tries = 0
  while #todo > 0 and tries < max_retries do
    tries = tries + 1
    local fresh = tensor.randint(1, n_items, {#todo}, {generator = generator}):tolist()
    local left = {}
    for k, e in ipairs(todo) do
      draws[e[1]][e[2]] = fresh[k]
      if bad(e[1], fresh[k]) then left[#left + 1] = e end
    end
    todo = left
  end
  for _, e in ipairs(todo) do -- exact fallback: uniform over the allowed ids
    local b = e[1]
    local allowed = {}
    for v = 1, n_items - 1 do if not bad(b, v) then allowed[#allowed + 1] = v end end
    if #allowed == 0 then
      fail("negatives", "user %d has every item in its history: no negative to draw", users[b])
    end
    local k = tensor.randint(1, #allowed + 1, {1}, {generator = generator}):item()
    draws[b][e[2]] = allowed[k]
  end
  return tensor.from(draws, {dtype = "i64"})
end

-- ---- the SASRec paper's data ---------------------------------------------------------------------

-- paper_split(seqs) -> {train = {[u] = items[1..n-2]}, valid = {[u] = items[n-1]},
-- test = {[u] = items[n]}}; users with fewer than 3 items keep everything in train (no valid/test).
function M.paper_split(seqs)
  local train, valid, test = {}, {}, {}
  for u, s in pairs(seqs) do
    local n = #s
    if n < 3 then
      train[u] = {table.unpack(s)}
    else
      local t = {}
      for k = 1, n - 2 do t[k] = s[k] end
      train[u], valid[u], test[u] = t, s[n - 1], s[n]
    end
  end
  return {train = train, valid = valid, test = test}
end

local function left_pad(list, first, last, L)
  local row = {}
  local n = last - first + 1
  for k = 1, L do
    local src = last - L + k
    row[k] = (src >= first and n > 0) and list[src] or 0
  end
  return row
end
M.left_pad = left_pad

-- Forbidden-item lookup for vectorised rejection sampling. lists: a Lua list of id lists.
-- Returns flat (S + 1) i64 (every list's ids, then a 0 sentinel), start (n) i64 offsets into
-- flat and len (n) i64 list lengths.
local function flat_lists(lists)
  local flat, start, len = {}, {}, {}
  for k, l in ipairs(lists) do
    start[k], len[k] = #flat, #l
    for _, v in ipairs(l) do flat[#flat + 1] = v end
  end
  flat[#flat + 1] = 0
  return tensor.from(flat, {dtype = "i64"}), tensor.from(start, {dtype = "i64"}), tensor.from(len, {dtype = "i64"})
end

-- (n, W) i64: the lists chosen by `which` (n) i64 (0-based rows of flat_lists), each padded
-- with 0 to W = the longest of them (at least 1).
local function gather_lists(flat, start, len, which)
  local n = which:size(1)
  local lens = len:index_select(1, which)
  local W = math.max(n > 0 and lens:max():item() or 0, 1)
  local ar = tensor.arange(W, {dtype = "i64"}):view(1, W)
  local idx = tensor.where(ar:lt(lens:view(n, 1)), start:index_select(1, which):view(n, 1) + ar, flat:size(1) - 1)
  return flat:index_select(1, idx:view(n * W)):view(n, W)
end

-- Draws (n, m) i64 ids uniform over 1..n_items-1 outside each row of forbid (n, W): uniform
-- draws, the ones equal to an entry of their row re-drawn (fresh uniform draws) until none is.
-- The caller guarantees every row leaves an id to draw.
local function draw_outside(forbid, m, n_items, generator)
  local n, W = forbid:size(1), forbid:size(2)
  local ropts = {generator = generator}
  local draws = tensor.randint(1, n_items, {n, m}, ropts)
  local fb = forbid:view(n, 1, W)
  local function hits(d) return d:view(n, m, 1):eq(fb):sum(3):gt(0) end -- sum: faster than any on the CPU
  local bad = hits(draws)
  while bad:sum():item() > 0 do
    draws = tensor.where(bad, tensor.randint(1, n_items, {n, m}, ropts), draws)
    bad = bad:logical_and(hits(draws))
  end
  return draws
end

-- paper_sampler(train, n_users, n_items, max_len, generator) -> sampler with
-- sampler:batch(B) -> seq, pos, neg (B, max_len) i64 and rows (K) i64 (the 0-based flat
-- positions of non-padding targets), following the authors' sampler: a user drawn uniformly among
-- those with more than one training item; seq = the last max_len of train[:-1], pos = the last
-- max_len of train[2:], both left-padded; one negative per target position, uniform over the
-- items not in the user's training items (0 at padding positions, which the loss never reads).
-- The windows are precomputed once as (E, max_len) rows and picked with index_select; the K
-- negatives come from one randint(K), the draws that fall among the user's training items are
-- re-drawn together (a randint of their count) until none does, and the result is scattered
-- into (B, max_len). The membership test stays a Lua set lookup per target (about 900 a batch):
-- on this CPU it costs less than comparing each draw with its user's padded item row (tensor
-- ops over K x longest-history, up to 858 on Video.txt). The law is the authors' (uniform users,
-- per-position rejection sampling); the random stream differs from the earlier sampler, which
-- drew all B x max_len positions (2026-11-29).
function M.paper_sampler(train, n_users, n_items, max_len, generator)
  local eligible, seq_rows, pos_rows, count = {}, {}, {}, {}
  local sets = {}
  for u = 1, n_users - 1 do
    local t = train[u]
    if t and #t > 1 then
      eligible[#eligible + 1] = u
      local k = #eligible
      seq_rows[k] = left_pad(t, 1, #t - 1, max_len)
      pos_rows[k] = left_pad(t, 2, #t, max_len)
      count[k] = math.min(#t - 1, max_len)
      local set, n = {}, 0
      for _, i in ipairs(t) do
        if not set[i] then set[i], n = true, n + 1 end
      end
      if n >= n_items - 1 then fail("paper_sampler", "user %d has every item in training: no negative to draw", u) end
      sets[k] = set
    end
  end
  if #eligible == 0 then fail("paper_sampler", "no user has two training items") end
  local seq_t = tensor.from(seq_rows, {dtype = "i64"})
  local pos_t = tensor.from(pos_rows, {dtype = "i64"})
  local L = max_len
  local ropts = {generator = generator}
  local s = {n = #eligible}
  function s:batch(B)
    local pick = tensor.randint(0, #eligible, {B}, ropts)
    local ks = pick:tolist()
    local seq, pos = seq_t:index_select(1, pick), pos_t:index_select(1, pick)
    local rows, owner = {}, {} -- owner[j]: the training item set of target j's user
    for b = 1, B do
      local k = ks[b] + 1
      local set = sets[k]
      for t = L - count[k] + 1, L do
        rows[#rows + 1] = (b - 1) * L + (t - 1)
        owner[#owner + 1] = set
      end
    end
    local K = #rows
    local draws = tensor.randint(1, n_items, {K}, ropts):tolist()
    local todo = {}
    for j = 1, K do if owner[j][draws[j]] then todo[#todo + 1] = j end end
    while #todo > 0 do
      local fresh = tensor.randint(1, n_items, {#todo}, ropts):tolist()
      local left = {}
      for i, j in ipairs(todo) do
        draws[j] = fresh[i]
        if owner[j][fresh[i]] then left[#left + 1] = j end
      end
      todo = left
    end
    local rows_t = tensor.from(rows, {dtype = "i64"})
    local neg = tensor.zeros({B * L}, {dtype = "i64"}):scatter_add(1, rows_t, tensor.from(draws, {dtype = "i64"}))
    return seq, pos, neg:view(B, L), rows_t
  end
  return s
end

-- paper_candidates(targets, rated, n_items, n_neg, generator [, chunk = 1024]) -> (U, 1 + n_neg)
-- i64 candidate ids for the sampled protocol: column 1 = the target, then n_neg negatives drawn
-- uniformly (with replacement) from 1..n_items-1 outside the row's `rated` list and its target
-- (the law of recx.data.metrics.sampled). targets (U) i64, rated a Lua list of U id lists.
-- Vectorised: rows are processed in chunks sorted by the length of their rated list (so each
-- chunk compares against lists padded to about its own length) and returned in input order.
function M.paper_candidates(targets, rated, n_items, n_neg, generator, chunk)
  chunk = chunk or 1024
  local U = targets:size(1)
  if #rated ~= U then fail("paper_candidates", "expected %d rated lists, got %d", U, #rated) end
  if U == 0 then return tensor.zeros({0, 1 + n_neg}, {dtype = "i64"}) end
  local tl = targets:tolist()
  local lists, lens = {}, {}
  for u = 1, U do
    local seen, l = {[tl[u]] = true}, {tl[u]}
    for _, v in ipairs(rated[u]) do
      if not seen[v] then seen[v], l[#l + 1] = true, v end
    end
    if #l >= n_items - 1 then fail("paper_candidates", "row %d leaves no item to draw as a negative", u) end
    lists[u], lens[u] = l, #l
  end
  local flat, start, len = flat_lists(lists)
  local _, order = tensor.from(lens, {dtype = "i64"}):sort(1)
  local parts = {}
  for first = 1, U, chunk do
    local c = math.min(chunk, U - first + 1)
    local rows = order:narrow(1, first, c)
    local negs = draw_outside(gather_lists(flat, start, len, rows), n_neg, n_items, generator)
    parts[#parts + 1] = tensor.cat({targets:index_select(1, rows):view(c, 1), negs}, 2)
  end
  local sorted = #parts == 1 and parts[1] or tensor.cat(parts, 1)
  local _, inverse = order:sort(1)
  return sorted:index_select(1, inverse)
end

-- paper_eval_rows(split, max_len, which) -> users (Lua list), hist (U, max_len) i64, targets (U)
-- i64, rated (Lua list of training items per user) for which = "valid" (input: train) or
-- "test" (input: train + valid item), over the users that have that item and a training item.
function M.paper_eval_rows(split, max_len, which)
  local users, rows, targets, rated = {}, {}, {}, {}
  local uids = {}
  for u in pairs(split.train) do uids[#uids + 1] = u end
  table.sort(uids)
  for _, u in ipairs(uids) do
    local t, target = split.train[u], split[which][u]
    if target and #t >= 1 then
      local input = {table.unpack(t)}
      if which == "test" then input[#input + 1] = split.valid[u] end
      users[#users + 1] = u
      rows[#rows + 1] = left_pad(input, 1, #input, max_len)
      targets[#targets + 1] = target
      rated[#rated + 1] = t
    end
  end
  return users, tensor.from(rows, {dtype = "i64"}), tensor.from(targets, {dtype = "i64"}), rated
end

return M
