-- recx.rec.export — what a trained recommender hands to the LLM side (SPEC 3.3, data4Exp).
--
-- Owns: the *_top.txt rows, sim_item.txt and the user/item embedding tables.
-- For each (uid, iid) row, with past = the user's items before the first occurrence of iid:
--   1. the user vector: SASRec from the last max_len items of past (left-padded), MF from uid
--   2. scores = user . item_table^T / tau over every id (one matmul per batch of rows)
--   3. scores[past] = -inf, scores[0] = -inf; later items of the sequence are NOT masked
--   4. reco = ids by descending score (stable: ties keep the lower id first); filter_items =
--      reco without the -inf ids (a prefix of reco)
--   5. for r = 1..times one line
--        uid \t iid \t top \t i1,i2,i3,i4,i5 \t pos \t neg \t score(pos) \t score(neg)
--      top = filter_items[r]; i1..i5 = filter_items at 5 positions drawn uniformly without
--      replacement and sorted ascending (so in recommender order); pos = an id with score >
--      score of reco[n // 5 + 1] (1-based; n = n_items, padding included), neg = an id with
--      score < score of reco[n // 2 + 1] (Python's reco[(-n) // 2]) and not -inf; the `times` pos
--      (and neg) of a row are distinct (drawn without replacement). Scores are written as the
--      shortest decimal that reads back as the same f32.
-- sim_item.txt: "iid \t j" for every real item, j = the arg-max of item . other over the other
-- real items (itself and padding excluded; ties: the lower id).
-- Random draws come from one recx generator (seed given by the caller), per batch of rows.
local recx = require "recx"
local tensor = recx.tensor

local M = {}

local function fail(fmt, ...) error("export: " .. string.format(fmt, ...), 0) end

-- The shortest %.Ng text of v that reads back as the same f32 value.
function M.format_score(v)
  if v ~= v or v == math.huge or v == -math.huge then return tostring(v) end
  local want = string.unpack("f", string.pack("f", v))
  for digits = 6, 9 do
    local s = string.format("%." .. digits .. "g", v)
    if string.unpack("f", string.pack("f", tonumber(s))) == want then return s end
  end
  return string.format("%.9g", v)
end

-- Uniform ordered sample of k distinct integers from lo..hi (partial Fisher-Yates on a virtual
-- array), consuming uniforms u[at], u[at+1], ... (floats in [0, 1)).
local function sample_range(lo, hi, k, u, at)
  local m = hi - lo + 1
  local swap, out = {}, {}
  for j = 0, k - 1 do
    local pick = j + math.floor(u[at + j] * (m - j))
    if pick > m - 1 then pick = m - 1 end
    local a, b = swap[j] or j, swap[pick] or pick
    swap[pick] = a
    swap[j] = b
    out[j + 1] = lo + b
  end
  return out
end
M.sample_range = sample_range

-- rows_for(seqs, which) -> list of {uid, iid}: "train" = positions 2..n-1, "test" = position n of
-- every user 1..#seqs (SPEC 2.3, the rows of train_ids.csv / test_ids.csv).
function M.rows_for(seqs, which)
  local rows = {}
  for u = 1, #seqs do
    local s = seqs[u]
    if which == "train" then
      for p = 2, #s - 1 do rows[#rows + 1] = {u, s[p]} end
    else
      rows[#rows + 1] = {u, s[#s]}
    end
  end
  return rows
end

-- read_ids(path) -> list of {uid, iid} from a tab-separated file with the header "user_id item_id".
function M.read_ids(path)
  local f, err = io.open(path, "r")
  if not f then fail("cannot open %s: %s", path, tostring(err)) end
  local rows, lineno = {}, 0
  for line in f:lines() do
    lineno = lineno + 1
    if lineno == 1 then
      if not line:match("^user_id%s+item_id%s*$") then
        f:close()
        fail("%s:1: expected the header \"user_id<TAB>item_id\", got %q", path, line)
      end
    elseif line:find("%S") then
      local u, i = line:match("^(%d+)%s+(%d+)%s*$")
      if not u then f:close(); fail("%s:%d: expected \"uid<TAB>iid\", got %q", path, lineno, line) end
      rows[#rows + 1] = {math.tointeger(tonumber(u)), math.tointeger(tonumber(i))}
    end
  end
  f:close()
  return rows
end

-- The past items of each row and the model inputs (b, max_len) histories or (b) uids.
local function row_inputs(model, seqs, rows, first, b)
  local is_mf = model.cfg.model == "MF"
  local L = model.cfg.max_len
  local pasts, inputs = {}, {}
  for k = 1, b do
    local uid, iid = rows[first + k - 1][1], rows[first + k - 1][2]
    local s = seqs[uid]
    if not s then fail("row %d: user %d is not in the sequences", first + k - 1, uid) end
    local p
    for j, v in ipairs(s) do if v == iid then p = j; break end end
    if not p then fail("row %d: item %d is not in user %d's sequence", first + k - 1, iid, uid) end
    local past = {}
    for j = 1, p - 1 do past[j] = s[j] end
    pasts[k] = past
    if is_mf then
      inputs[k] = uid
    else
      local h = {}
      for j = 1, L do local src = p - 1 - L + j; h[j] = src >= 1 and s[src] or 0 end
      inputs[k] = h
    end
  end
  return pasts, tensor.from(inputs, {dtype = "i64"})
end

-- Masked scores (b, n_items) for rows first..first+b-1, and their past lists.
local function masked_scores(model, seqs, rows, first, b, tau, device)
  local pasts, inputs = row_inputs(model, seqs, rows, first, b)
  local n = model:item_vectors():size(1)
  local width = 1
  for _, p in ipairs(pasts) do if #p > width then width = #p end end
  local cols = {}
  for k, p in ipairs(pasts) do
    local row = {}
    for j = 1, width do row[j] = p[j] or 0 end
    cols[k] = row
  end
  local scores = recx.no_grad(function()
    return model:scores(inputs:to(device)):to("cpu") / tau
  end)
  local hit = tensor.zeros({b, n}):scatter_add(2, tensor.from(cols, {dtype = "i64"}), tensor.ones({b, width}))
  local mask = hit:gt(0):logical_or(tensor.arange(n):view(1, n):eq(0))
  return scores:masked_fill(mask, -math.huge), pasts
end

-- top_lines(model, seqs, rows, {times = 1, tau = 1, batch = 100, generator, device = "cpu"}) ->
-- list of text lines (without newlines), `times` per row, in row order.
function M.top_lines(model, seqs, rows, opts)
  opts = opts or {}
  local times, tau, batch = opts.times or 1, opts.tau or 1.0, opts.batch or 100
  local gen, device = opts.generator or tensor.generator(2023), opts.device or "cpu"
  local fmt = M.format_score
  local lines = {}
  model:eval()
  for first = 1, #rows, batch do
    local b = math.min(batch, #rows - first + 1)
    local scores = masked_scores(model, seqs, rows, first, b, tau, device)
    local n = scores:size(2)
    local vals, reco = scores:sort(2, true)                                 -- (b, n) descending, stable
    local t_pos = vals:narrow(2, n // 5 + 1, 1)                              -- (b, 1)
    local t_neg = vals:narrow(2, n // 2 + 1, 1)
    local n_pos = vals:gt(t_pos):sum(2):tolist()                             -- pos = reco[1..n_pos]
    local neg_first = (vals:ge(t_neg):sum(2) + 1):tolist()                   -- neg = reco[neg_first..n_fin]
    local n_fin = vals:gt(-math.huge):sum(2):tolist()                        -- filter_items = reco[1..n_fin]
    local per = 7 * times
    local u = tensor.rand({b, per}, {generator = gen}):tolist()
    -- 1-based positions into reco to read: top, topk (5 per r), pos, neg
    local want = {}
    for k = 1, b do
      local row, w = first + k - 1, {}
      local nf = n_fin[k]
      if nf < math.max(5, times) then
        fail("row %d (user %d, item %d): only %d unmasked items, need %d", row, rows[row][1], rows[row][2], nf,
          math.max(5, times))
      end
      if n_pos[k] < times or n_fin[k] - neg_first[k] + 1 < times then
        fail("row %d (user %d, item %d): %d pos / %d neg candidates for times=%d", row, rows[row][1], rows[row][2],
          n_pos[k], math.max(0, n_fin[k] - neg_first[k] + 1), times)
      end
      local pos = sample_range(1, n_pos[k], times, u[k], 5 * times + 1)
      local neg = sample_range(neg_first[k], nf, times, u[k], 6 * times + 1)
      for r = 1, times do
        local topk = sample_range(1, nf, 5, u[k], 5 * (r - 1) + 1)
        table.sort(topk)
        w[#w + 1] = r
        for _, v in ipairs(topk) do w[#w + 1] = v end
        w[#w + 1] = pos[r]
        w[#w + 1] = neg[r]
      end
      want[k] = w
    end
    local idx = tensor.from(want, {dtype = "i64"}) - 1                      -- (b, 8 * times) 0-based
    local ids = reco:gather(2, idx):tolist()
    local sc = vals:gather(2, idx):tolist()
    for k = 1, b do
      local uid, iid = rows[first + k - 1][1], rows[first + k - 1][2]
      for r = 1, times do
        local o = 8 * (r - 1)
        lines[#lines + 1] = string.format("%d\t%d\t%d\t%d,%d,%d,%d,%d\t%d\t%d\t%s\t%s", uid, iid, ids[k][o + 1],
          ids[k][o + 2], ids[k][o + 3], ids[k][o + 4], ids[k][o + 5], ids[k][o + 6], ids[k][o + 7], ids[k][o + 8],
          fmt(sc[k][o + 7]), fmt(sc[k][o + 8]))
      end
    end
  end
  return lines
end

-- sim_items(model [, {batch = 512}]) -> list j[iid] for iid = 1..n_items-1.
function M.sim_items(model, opts)
  local batch = (opts and opts.batch) or 512
  local w = recx.no_grad(function() return model:item_vectors():detach():to("cpu") end)
  local n = w:size(1)
  local out = {}
  recx.no_grad(function()
    for first = 1, n - 1, batch do
      local b = math.min(batch, n - first)
      local s = w:narrow(1, first + 1, b):matmul(w:t())                      -- (b, n): items first..first+b-1
      local self_col = tensor.arange(first, first + b):view(b, 1):eq(tensor.arange(n):view(1, n))
      local mask = self_col:logical_or(tensor.arange(n):view(1, n):eq(0))
      local best = s:masked_fill(mask, -math.huge):argmax(2):tolist()
      for k = 1, b do out[first + k - 1] = best[k] end
    end
  end)
  return out
end

-- user_vectors(model, seqs, rows [, {batch = 512, device}]) -> (R, dim) f32 CPU tensor: the user
-- vector behind each row (SASRec: the last hidden state of its history; MF: the uid's row).
function M.user_vectors(model, seqs, rows, opts)
  local batch, device = (opts and opts.batch) or 512, (opts and opts.device) or "cpu"
  local parts = {}
  model:eval()
  recx.no_grad(function()
    for first = 1, #rows, batch do
      local b = math.min(batch, #rows - first + 1)
      local _, inputs = row_inputs(model, seqs, rows, first, b)
      parts[#parts + 1] = model:user_vectors(inputs:to(device)):to("cpu"):contiguous()
    end
  end)
  return tensor.cat(parts, 1)
end

return M
