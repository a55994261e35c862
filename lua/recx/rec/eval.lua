-- recx.rec.eval — evaluation protocols for the recommenders, batched over users.
--
-- Owns: running a scoring function over many users in batches and averaging the ranking metrics
-- of recx.data.metrics (hit/ndcg/mrr@{1,5,10,20}, the optimistic rank on ties) under two
-- protocols:
--   full     every item is a candidate; padding (id 0) and the user's past items are masked
--            (the target never is); this is UniRec's 'one_vs_all' valid/test protocol (SPEC 3.1)
--   sampled  the SASRec paper's: the target against n_neg (100) negatives drawn uniformly from
--            the items that are not padding and not in the user's `rated` list (the training
--            items; the paper's code may draw the validation item as a negative for the test),
--            over at most max_users (10,000) users chosen at random; seeded by a generator
-- score(inputs) receives a (b, ...) slice of `inputs` (histories or user ids) and returns (b,
-- n_items) float scores; it runs under no_grad, and the caller puts the model in eval mode.
local recx = require "recx"
local metrics = require "recx.data.metrics"
local tensor = recx.tensor

local M = {}

local function accumulate(total, m, w)
  for k, v in pairs(m) do total[k] = (total[k] or 0) + v * w end
end

local function finish(total, n)
  local out = {}
  for k, v in pairs(total) do out[k] = n > 0 and v / n or 0 end
  return out
end

local function slice(list, first, count)
  local out = {}
  for k = 1, count do out[k] = list[first + k - 1] end
  return out
end

-- full(score, inputs, targets, past [, {batch = 512}]) -> metrics averaged over the U users.
-- inputs (U, ...) tensor; targets (U) i64; past: a Lua list of U lists of ids to mask.
function M.full(score, inputs, targets, past, opts)
  local batch = (opts and opts.batch) or 512
  local U = targets:size(1)
  local total = {}
  recx.no_grad(function()
    for first = 1, U, batch do
      local b = math.min(batch, U - first + 1)
      local scores <close> = score(inputs:narrow(1, first, b))
      local m = metrics.full(scores, targets:narrow(1, first, b), slice(past, first, b))
      accumulate(total, m, b)
    end
  end)
  return finish(total, U)
end

-- sampled(score, inputs, targets, rated [, {generator, n_neg = 100, max_users = 10000,
-- batch = 512}]) -> metrics averaged over the evaluated users, and their number.
function M.sampled(score, inputs, targets, rated, opts)
  opts = opts or {}
  local batch, n_neg, max_users = opts.batch or 512, opts.n_neg or 100, opts.max_users or 10000
  local ropts = opts.generator and {generator = opts.generator} or nil
  local U = targets:size(1)
  if U > max_users then
    local rows = tensor.ones(U):multinomial(max_users, false, ropts)
    local keep = {}
    for k, r in ipairs(rows:tolist()) do keep[k] = rated[r + 1] end
    inputs, targets, rated, U = inputs:index_select(1, rows), targets:index_select(1, rows), keep, max_users
  end
  local total = {}
  recx.no_grad(function()
    for first = 1, U, batch do
      local b = math.min(batch, U - first + 1)
      local scores <close> = score(inputs:narrow(1, first, b))
      local m = metrics.sampled(scores, targets:narrow(1, first, b), slice(rated, first, b),
        {generator = opts.generator, n_neg = n_neg, max_users = b})
      accumulate(total, m, b)
    end
  end)
  return finish(total, U), U
end

return M
