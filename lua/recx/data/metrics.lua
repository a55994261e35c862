-- recx.data.metrics — ranking metrics for next-item recommendation (SPEC 3.1 evaluation).
--
-- Owns: the full-ranking protocol (every item is a candidate; column 0, the padding id, and the
-- user's history are masked with -inf) and the SASRec paper's sampled protocol (the target
-- against 100 negatives drawn uniformly, with replacement as in the SASRec code, from the items
-- that are neither padding, in the history, nor the target; at most 10,000 users, a random
-- subset when there are more). Both report hit@k, ndcg@k and mrr@k for k in {1, 5, 10, 20},
-- averaged over users, under keys like "ndcg@10".
--
-- Ties: the rank of the target is 1 + the number of candidates with a STRICTLY higher score,
-- so an item scoring the same as the target never pushes it down (the optimistic rank).
-- hit@k = [rank <= k], ndcg@k = [rank <= k] / log2(rank + 1), mrr@k = [rank <= k] / rank.
--
-- Inputs: scores (U, n_items), a float recx tensor (column j scores item id j); targets (U),
-- an integer recx tensor or a Lua list of ids in 1..n_items-1; histories, a Lua list of U lists
-- of ids in 0..n_items-1 to mask (0 entries are padding and ignored). The target is never
-- masked even if it appears in its history. All ranking is done with tensor ops.
local tensor = require("recx").tensor

local M = {}

M.ks = {1, 5, 10, 20}

local function shape_str(t)
  return "(" .. table.concat(t:shape(), ", ") .. ")"
end

-- level: 4 from prepare (fail < prepare < public function < caller), 3 from a public function
local function fail(fn, arg, msg, level)
  error(string.format("metrics.%s: argument #%d: %s", fn, arg, msg), level or 4)
end

local FLOATS = {f32 = true, f64 = true, f16 = true, bf16 = true}

-- Checks the three inputs; returns targets as a (U) i64 tensor and the (U, n_items) bool mask
-- of padding + history columns (the target's own column left unmasked).
local function prepare(fn, scores, targets, histories)
  if not tensor.is_tensor(scores) or scores:dim() ~= 2 then
    fail(fn, 1, "expected (U, n_items) scores, got " ..
      (tensor.is_tensor(scores) and shape_str(scores) or type(scores)))
  end
  if not FLOATS[scores:dtype()] then fail(fn, 1, "expected float scores, got " .. scores:dtype()) end
  local U, N = scores:size(1), scores:size(2)
  if N < 2 then fail(fn, 1, "expected at least 2 columns (padding + 1 item), got " .. shape_str(scores)) end
  if type(targets) == "table" and not tensor.is_tensor(targets) then
    targets = tensor.from(targets, {dtype = "i64"})
  end
  if not tensor.is_tensor(targets) or targets:dim() ~= 1 or targets:size(1) ~= U then
    fail(fn, 2, "expected (U) targets, got " .. (tensor.is_tensor(targets) and shape_str(targets) or type(targets)) ..
      " for U = " .. U)
  end
  local td = targets:dtype()
  if td ~= "i64" and td ~= "i32" then fail(fn, 2, "expected i64 or i32 targets, got " .. td) end
  targets = targets:to("i64")
  if U > 0 then
    local lo, hi = targets:min():item(), targets:max():item()
    if lo < 1 or hi > N - 1 then
      fail(fn, 2, string.format("target ids must be in 1..%d, got values in %d..%d", N - 1, lo, hi))
    end
  end
  if type(histories) ~= "table" or #histories ~= U then
    fail(fn, 3, string.format("expected a list of %d histories, got %s", U,
      type(histories) == "table" and (#histories .. " entries") or type(histories)))
  end
  local width = 1
  for u = 1, U do
    local h = histories[u]
    if type(h) ~= "table" then fail(fn, 3, string.format("history #%d: expected a list of ids, got %s", u, type(h))) end
    if #h > width then width = #h end
  end
  -- (U, width) ids padded with 0; column 0 is masked anyway.
  local rows = {}
  for u = 1, U do
    local row, h = {}, histories[u]
    for j = 1, width do
      local id = h[j] or 0
      if math.type(id) ~= "integer" or id < 0 or id > N - 1 then
        fail(fn, 3, string.format("history #%d entry %d: expected an id in 0..%d, got %s", u, j, N - 1, tostring(id)))
      end
      row[j] = id
    end
    rows[u] = row
  end
  local hist = tensor.from(rows, {dtype = "i64"}):view(U, width)
  local hits = tensor.zeros({U, N}):scatter_add(2, hist, tensor.ones({U, width}))
  local is_target = tensor.arange(N):view(1, N):eq(targets:view(U, 1))   -- (U, N)
  local mask = hits:gt(0):logical_and(is_target:logical_not())
  mask = mask:logical_or(tensor.arange(N):view(1, N):eq(0))               -- padding column
  return targets, mask, is_target
end

-- Metrics table from a (U) i64 tensor of 1-based ranks.
local function from_ranks(ranks)
  local r = ranks:to("f64")
  local out = {}
  for _, k in ipairs(M.ks) do
    local within = ranks:le(k)
    out["hit@" .. k] = within:to("f64"):mean():item()
    out["ndcg@" .. k] = tensor.where(within, math.log(2) / (r + 1):log(), 0):mean():item()
    out["mrr@" .. k] = tensor.where(within, 1 / r, 0):mean():item()
  end
  return out
end

-- Full ranking. Returns the metrics table and the (U) i64 tensor of ranks.
function M.full(scores, targets, histories)
  local tg, mask = prepare("full", scores, targets, histories)
  local U = scores:size(1)
  local masked = scores:masked_fill(mask, -math.huge)
  local target_score = scores:gather(2, tg:view(U, 1))                      -- (U, 1)
  local ranks = masked:gt(target_score):sum(2) + 1                         -- (U) i64
  return from_ranks(ranks), ranks
end

-- Sampled protocol. opts: generator (a recx generator, required for reproducibility; the
-- default generator otherwise), n_neg (100), max_users (10000). Returns the metrics table, the
-- (U', 1 + n_neg) i64 candidate ids (column 1 = target) and the (U') i64 user rows evaluated
-- (0-based rows of scores; all of them, in order, when U <= max_users).
function M.sampled(scores, targets, histories, opts)
  opts = opts or {}
  if type(opts) ~= "table" then fail("sampled", 4, "expected an options table, got " .. type(opts), 3) end
  for key in pairs(opts) do
    if key ~= "generator" and key ~= "n_neg" and key ~= "max_users" then
      fail("sampled", 4, "unknown option '" .. tostring(key) .. "' (expected generator, n_neg, max_users)", 3)
    end
  end
  local n_neg, max_users = opts.n_neg or 100, opts.max_users or 10000
  if math.type(n_neg) ~= "integer" or n_neg < 1 then fail("sampled", 4, "n_neg: expected a positive integer", 3) end
  if math.type(max_users) ~= "integer" or max_users < 1 then fail("sampled", 4, "max_users: expected a positive integer", 3) end
  local tg, mask, is_target = prepare("sampled", scores, targets, histories)
  local U, N = scores:size(1), scores:size(2)
  local ropts = opts.generator and {generator = opts.generator} or nil
  local rows
  if U > max_users then
    rows = tensor.ones(U):multinomial(max_users, false, ropts)
    scores, tg = scores:index_select(1, rows), tg:index_select(1, rows)
    mask, is_target = mask:index_select(1, rows), is_target:index_select(1, rows)
    U = max_users
  else
    rows = tensor.arange(U)
  end
  local eligible = mask:logical_or(is_target):logical_not()                 -- (U, N)
  if U > 0 and eligible:sum(2):min():item() == 0 then
    fail("sampled", 3, "a user has no item left to sample as a negative", 3)
  end
  local negs = eligible:to("f32"):multinomial(n_neg, true, ropts)           -- (U, n_neg)
  local cand = tensor.cat({tg:view(U, 1), negs}, 2)                         -- (U, 1 + n_neg)
  local cs = scores:gather(2, cand)
  local ranks = cs:gt(cs:narrow(2, 1, 1)):sum(2) + 1
  return from_ranks(ranks), cand, rows
end

return M
