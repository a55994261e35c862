-- recx.llm.sampling — the per-step score processors of generation, each a few tensor ops over a
-- (N, V) score matrix (N rows = batch x beams, V = vocabulary); no Lua loop over the vocabulary.
--
-- Owns, in the order recx.llm.generate applies them (Hugging Face's order):
--   repetition_penalty(scores, seen, p)  seen (N, V) f32 counts of the ids already in each row
--                                        (prompt + generated, padding excluded): a score s of such an
--                                        id becomes s / p when s > 0, s * p otherwise
--   ban(scores, banned)                  banned: a (V) f32 row of 0 / -inf added to every row
--   ban_at(scores, rows_ids)             rows_ids[r] = list of 0-based ids to ban in row r (bad-word
--                                        sequences whose prefix the row just completed)
--   temperature(scores, t)               scores / t
--   top_k(scores, k)                     keeps the scores >= the k-th largest of the row (ties kept)
--   top_p(scores, p)                     sorts ascending, drops the ids whose cumulative probability
--                                        is <= 1 - p, always keeps the most likely one
--   sample(scores, generator)            one id per row drawn from softmax(scores): (N) i64
--   greedy(scores)                       the first argmax of each row: (N) i64
--   ban_row(V, ids)                      the (V) 0 / -inf row for ban()
-- Filtered-out entries become -inf.
local recx = require "recx"
local tensor = recx.tensor

local M = {}

local NEG_INF = -math.huge

function M.ban_row(V, ids, device)
  local row = tensor.zeros(V, {device = device})
  if #ids == 0 then return row end
  local idx = tensor.from(ids, {dtype = "i64", device = device})
  return row:scatter_add(1, idx, tensor.full({#ids}, NEG_INF, {device = device}))
end

function M.repetition_penalty(scores, seen, p)
  local penalized = tensor.where(scores:gt(0), scores / p, scores * p)
  return tensor.where(seen:gt(0), penalized, scores)
end

function M.ban(scores, banned)
  return scores + banned
end

function M.ban_at(scores, rows_ids)
  local width = 0
  for _, ids in pairs(rows_ids) do width = math.max(width, #ids) end
  if width == 0 then return scores end
  local N = scores:size(1)
  local idx, val = {}, {}
  for r = 1, N do
    local ids = rows_ids[r] or {}
    local ir, vr = {}, {}
    for j = 1, width do
      ir[j] = ids[j] or 0
      vr[j] = ids[j] and NEG_INF or 0
    end
    idx[r], val[r] = ir, vr
  end
  local dev = scores:device()
  local add = tensor.zeros(scores:shape(), {device = dev}):scatter_add(2, tensor.from(idx, {dtype = "i64", device = dev}),
    tensor.from(val, {device = dev}))
  return scores + add
end

function M.temperature(scores, t)
  return scores / t
end

function M.top_k(scores, k)
  if k >= scores:size(2) then return scores end
  local values = scores:topk(k, 2)
  return scores:masked_fill(scores:lt(values:narrow(2, k, 1)), NEG_INF)
end

function M.top_p(scores, p)
  local V = scores:size(2)
  local sorted, order = scores:sort(2, false)
  local remove = sorted:softmax(2):cumsum(2):le(1 - p)
  remove:narrow(2, V, 1):fill_(false)
  local back = tensor.zeros(scores:shape(), {device = scores:device()}):scatter_add(2, order, remove:to("f32"))
  return scores:masked_fill(back:gt(0), NEG_INF)
end

function M.sample(scores, generator)
  return scores:softmax(2):multinomial(1, false, {generator = generator}):view(-1)
end

function M.greedy(scores)
  return scores:argmax(2)
end

return M
