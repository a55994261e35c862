-- test_metrics.lua — recx.data.metrics: full-ranking and sampled hit/ndcg/mrr@{1,5,10,20}.
--
-- Checked: ranks and metric values worked out by hand for 3 users over 6 items (plus the
-- padding column 0); history masking moves a rank; the padding column never counts even with the
-- largest score; ties (the target ranks after strictly higher scores only); the sampled protocol:
-- negatives exclude padding, history and target (checked by recomputing), the ranks match a
-- plain Lua recount, the same seed gives the same draw, at most max_users users, and a model that
-- scores the target highest gets 1.0 everywhere; bad arguments are errors naming the argument.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local metrics = require "recx.data.metrics"

local TOL = 1e-9

-- columns: 0 (padding) then items 1..6
local scores = tensor.from({
  {100, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4}, -- A: target 3 (0.7); 1, 2 higher; pad ignored -> rank 3
  {0,   0.1, 0.2, 0.3, 0.4, 0.5, 0.6}, -- B: target 6 (0.6), the highest          -> rank 1
  {0,   0.5, 0.9, 0.3, 0.8, 0.1, 0.2}, -- C: target 5 (0.1), history {2, 4} masked;
}, {dtype = "f64"})                    --    higher: 1 (0.5), 3 (0.3), 6 (0.2)       -> rank 4
local targets = tensor.from({3, 6, 5}, {dtype = "i64"})
local histories = {{0, 0}, {}, {0, 2, 4}} -- 0 entries are padding

T.case("full ranking: ranks and metrics by hand", function()
  local m, ranks = metrics.full(scores, targets, histories)
  T.eq(ranks:tolist(), {3, 1, 4})
  -- ranks 3, 1, 4: hit@1 = 1/3, all within 5
  T.near(m["hit@1"], 1 / 3, TOL)
  for _, k in ipairs({5, 10, 20}) do T.near(m["hit@" .. k], 1, TOL) end
  -- ndcg: rank 3 -> 1/log2(4) = 0.5, rank 1 -> 1, rank 4 -> 1/log2(5) = 0.4306765581
  T.near(m["ndcg@1"], 1 / 3, TOL)
  for _, k in ipairs({5, 10, 20}) do T.near(m["ndcg@" .. k], (0.5 + 1 + 0.43067655807339306) / 3, TOL) end
  -- mrr: 1/3 + 1 + 1/4 = 19/12
  T.near(m["mrr@1"], 1 / 3, TOL)
  for _, k in ipairs({5, 10, 20}) do T.near(m["mrr@" .. k], (19 / 12) / 3, TOL) end
end)

T.case("history masking changes a rank; ranks past k give 0", function()
  -- without the history, C's items 2 (0.9) and 4 (0.8) also beat the target: rank 6
  local m, ranks = metrics.full(scores, targets, {{}, {}, {}})
  T.eq(ranks:tolist(), {3, 1, 6})
  T.near(m["hit@5"], 2 / 3, TOL)
  T.near(m["ndcg@5"], (0.5 + 1) / 3, TOL)
  T.near(m["mrr@5"], (1 / 3 + 1) / 3, TOL)
  T.near(m["hit@10"], 1, TOL)
  T.near(m["ndcg@10"], (0.5 + 1 + 1 / (math.log(7) / math.log(2))) / 3, TOL) -- rank 6 -> 1/log2(7)
  T.near(m["mrr@10"], (1 / 3 + 1 + 1 / 6) / 3, TOL)
end)

T.case("the target is never masked, even when listed in its history", function()
  local _, ranks = metrics.full(scores, targets, {{3}, {6}, {5, 2, 4}})
  T.eq(ranks:tolist(), {3, 1, 4})
end)

T.case("padding column never counts", function()
  -- a huge pad score, and a pad score equal to the target's, leave the rank at 1
  local s = tensor.from({{1e30, 5, 1, 2}, {5, 5, 1, 2}})
  local m, ranks = metrics.full(s, {1, 1}, {{}, {}})
  T.eq(ranks:tolist(), {1, 1})
  T.near(m["hit@1"], 1, TOL); T.near(m["ndcg@1"], 1, TOL); T.near(m["mrr@1"], 1, TOL)
end)

T.case("ties: the target ranks after strictly higher scores only", function()
  -- items 2, 3, 4 tie with target 3 at 2.0: none is strictly higher -> rank 1
  local _, r1 = metrics.full(tensor.from({{0, 1, 2, 2, 2, 0}}), {3}, {{}})
  T.eq(r1:tolist(), {1})
  -- item 5 at 3.0 is strictly higher: rank 2; the ties still do not count
  local _, r2 = metrics.full(tensor.from({{0, 1, 2, 2, 2, 3}}), {3}, {{}})
  T.eq(r2:tolist(), {2})
end)

T.case("f32 scores and i32 targets", function()
  local _, ranks = metrics.full(scores:to("f32"), targets:to("i32"), histories)
  T.eq(ranks:tolist(), {3, 1, 4})
end)

local function in_list(list, v)
  for _, x in ipairs(list) do if x == v then return true end end
  return false
end

T.case("sampled: negatives exclude padding, history and target; ranks recounted", function()
  local U, N = 4, 150
  local g = tensor.generator(7)
  local s = tensor.rand({U, N}, {generator = g}):to("f64")
  local tg = {10, 20, 30, 149}
  local hist = {{1, 2, 3, 4, 5}, {0, 0, 19, 21}, {}, {148, 147, 146}}
  local m, cand, rows = metrics.sampled(s, tg, hist, {generator = tensor.generator(11)})
  T.eq(cand:shape(), {U, 101})
  T.eq(rows:tolist(), {0, 1, 2, 3})
  local c, sv = cand:tolist(), s:tolist()
  local bad, hits10, mrr20 = 0, 0, 0
  for u = 1, U do
    T.eq(c[u][1], tg[u], "column 1 is the target")
    local higher = 0
    for j = 2, 101 do
      local id = c[u][j]
      if id < 1 or id > N - 1 or id == tg[u] or in_list(hist[u], id) then bad = bad + 1 end
      if sv[u][id + 1] > sv[u][tg[u] + 1] then higher = higher + 1 end
    end
    local rank = higher + 1
    if rank <= 10 then hits10 = hits10 + 1 end
    if rank <= 20 then mrr20 = mrr20 + 1 / rank end
  end
  T.eq(bad, 0, "negatives that are padding, history or the target")
  T.near(m["hit@10"], hits10 / U, TOL)
  T.near(m["mrr@20"], mrr20 / U, TOL)
  -- the same seed replays the same draw; another seed gives another
  local _, again = metrics.sampled(s, tg, hist, {generator = tensor.generator(11)})
  T.eq(again:tolist(), c)
  local _, other = metrics.sampled(s, tg, hist, {generator = tensor.generator(12)})
  T.ok(not cand:eq(other):all():item(), "a different seed draws different negatives")
end)

T.case("sampled: a user with few eligible items still gets 100 draws from them", function()
  -- N = 6: eligible for user 1 are items 1, 4 only (history {2, 3}, target 5)
  local s = tensor.zeros({1, 6})
  local _, cand = metrics.sampled(s, {5}, {{2, 3}}, {generator = tensor.generator(3)})
  local seen = {}
  for j, id in ipairs(cand:tolist()[1]) do
    if j > 1 then seen[id] = true end
  end
  T.ok(seen[1] and seen[4] and not seen[0] and not seen[2] and not seen[3] and not seen[5],
    "only items 1 and 4 drawn")
end)

T.case("sampled: a model scoring the target highest gets 1.0", function()
  local U, N = 5, 300
  local g = tensor.generator(1)
  local s = tensor.rand({U, N}, {generator = g})
  local tg = {3, 77, 150, 299, 1}
  local onehot = tensor.arange(N):view(1, N):eq(tensor.from(tg, {dtype = "i64"}):view(U, 1))
  s = s:masked_fill(onehot, 10)
  local m = metrics.sampled(s, tg, {{}, {}, {}, {}, {}}, {generator = g})
  for _, k in ipairs(metrics.ks) do
    T.eq(m["hit@" .. k], 1); T.eq(m["ndcg@" .. k], 1); T.eq(m["mrr@" .. k], 1)
  end
  local mf = metrics.full(s, tg, {{}, {}, {}, {}, {}})
  T.eq(mf["ndcg@1"], 1)
end)

T.case("sampled: at most max_users distinct users", function()
  local U, N = 6, 40
  local s = tensor.rand({U, N}, {generator = tensor.generator(5)})
  local tg = {1, 2, 3, 4, 5, 6}
  local _, cand, rows = metrics.sampled(s, tg, {{}, {}, {}, {}, {}, {}},
    {generator = tensor.generator(9), max_users = 3, n_neg = 7})
  T.eq(cand:shape(), {3, 8})
  local r, seen = rows:tolist(), {}
  for i = 1, 3 do
    T.ok(r[i] >= 0 and r[i] < U and not seen[r[i]], "distinct rows in range")
    seen[r[i]] = true
    T.eq(cand:tolist()[i][1], tg[r[i] + 1], "the target of the chosen row")
  end
end)

T.case("errors name the argument", function()
  T.raises("metrics.full: argument #2: expected (U) targets, got (4, 2)", metrics.full,
    tensor.zeros({4, 6}), tensor.zeros({4, 2}, {dtype = "i64"}), {{}, {}, {}, {}})
  T.raises("metrics.full: argument #1: expected (U, n_items) scores, got (4)", metrics.full,
    tensor.zeros({4}), {1, 1, 1, 1}, {{}, {}, {}, {}})
  T.raises("metrics.full: argument #1: expected float scores, got i64", metrics.full,
    tensor.zeros({1, 4}, {dtype = "i64"}), {1}, {{}})
  T.raises("metrics.full: argument #2: target ids must be in 1..3, got values in 0..0", metrics.full,
    tensor.zeros({1, 4}), {0}, {{}})
  T.raises("metrics.full: argument #3: expected a list of 2 histories, got 1 entries", metrics.full,
    tensor.zeros({2, 4}), {1, 2}, {{}})
  T.raises("metrics.full: argument #3: history #1 entry 1: expected an id in 0..3, got 4", metrics.full,
    tensor.zeros({1, 4}), {1}, {{4}})
  T.raises("metrics.sampled: argument #4: unknown option 'seed'", metrics.sampled,
    tensor.zeros({1, 4}), {1}, {{}}, {seed = 1})
  T.raises("metrics.sampled: argument #3: a user has no item left to sample", metrics.sampled,
    tensor.zeros({1, 4}), {1}, {{2, 3}})
end)

T.done()
