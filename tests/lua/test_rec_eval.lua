-- test_rec_eval.lua — recx.rec.eval (batched full-ranking and sampled protocols) and the SASRec
-- paper's data handling in recx.rec.batches.
--
-- Owns: the sampled protocol on a hand-built example whose ranks do not depend on which
-- negatives are drawn (so the expected metrics are computed by hand: rank 1, rank 1 + n_neg,
-- ties counted optimistically, rated items and padding never drawn), the max_users subset; the
-- full protocol batched equals one unbatched call and a hand count; the paper split (last =
-- test, second-last = valid, short users train only), the paper sampler (inputs/targets shifted
-- by one, left-padded, rows = non-padding targets, negatives outside the training items) and the
-- evaluation inputs (valid: train items; test: train + valid item).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local eval = require "recx.rec.eval"
local batches = require "recx.rec.batches"

recx.num_threads(1)

local function ident(x) return x end

T.case("sampled protocol: hand-computed ranks", function()
  -- 8 ids (0 = padding). Column 0 and the rated items score highest: drawing any of them as a
  -- negative would push the target down.
  local scores = tensor.from({
    {9, 8, 8, 0.5, 0.4, 0.3, 5.0, 0.1},  -- user A: target 6 beats every eligible item -> rank 1
    {9, 0.1, 0.2, 0.9, 0.8, 0.7, 0.6, 9},  -- user B: target 1 below every eligible item -> rank 1 + n_neg
    {9, 1, 1, 1, 1, 1, 1, 9},              -- user C: target 3 tied with every eligible item -> rank 1
  })
  local targets = tensor.from({6, 1, 3}, {dtype = "i64"})
  local rated = {{1, 2}, {7}, {7}}
  local n_neg = 4
  local m, n = eval.sampled(ident, scores, targets, rated, {generator = tensor.generator(1), n_neg = n_neg})
  T.eq(n, 3, "every user evaluated")
  local ranks = {1, 1 + n_neg, 1}
  for _, k in ipairs({1, 5, 10, 20}) do
    local hit, ndcg, mrr = 0, 0, 0
    for _, r in ipairs(ranks) do
      if r <= k then
        hit, ndcg, mrr = hit + 1, ndcg + 1 / (math.log(r + 1) / math.log(2)), mrr + 1 / r
      end
    end
    T.near(m["hit@" .. k], hit / 3, 1e-9, "hit@" .. k)
    T.near(m["ndcg@" .. k], ndcg / 3, 1e-9, "ndcg@" .. k)
    T.near(m["mrr@" .. k], mrr / 3, 1e-9, "mrr@" .. k)
  end
  -- max_users: 2 of the 3 users, in batches of 1
  local m2, n2 = eval.sampled(ident, scores, targets, rated,
    {generator = tensor.generator(2), n_neg = n_neg, max_users = 2, batch = 1})
  T.eq(n2, 2, "max_users")
  local h = m2["hit@1"] * 2
  T.ok(math.abs(h - math.floor(h + 0.5)) < 1e-9 and h >= 1, "hit@1 over 2 users is 1/2 or 1: " .. m2["hit@1"])
end)

T.case("full protocol: batched equals unbatched and a hand count", function()
  local g = tensor.generator(3)
  local U, N = 37, 12
  local scores = tensor.randn({U, N}, {generator = g})
  local targets, past = {}, {}
  for u = 1, U do
    targets[u] = (u * 5) % (N - 1) + 1
    past[u] = {(u * 3) % (N - 1) + 1, (u * 7) % (N - 1) + 1}
  end
  local t = tensor.from(targets, {dtype = "i64"})
  local a = eval.full(ident, scores, t, past, {batch = 5})
  local b = eval.full(ident, scores, t, past, {batch = 1000})
  for k, v in pairs(b) do T.near(a[k], v, 1e-12, k) end
  -- hand: rank = 1 + #{j != 0, j not in past (unless j is the target), s[j] > s[target]}
  local s, hit10 = scores:tolist(), 0
  for u = 1, U do
    local masked = {[0] = true}
    for _, j in ipairs(past[u]) do if j ~= targets[u] then masked[j] = true end end
    local rank = 1
    for j = 0, N - 1 do
      if not masked[j] and s[u][j + 1] > s[u][targets[u] + 1] then rank = rank + 1 end
    end
    if rank <= 10 then hit10 = hit10 + 1 end
  end
  T.near(a["hit@10"], hit10 / U, 1e-12, "hit@10 by hand")
end)

T.case("paper split, sampler and evaluation inputs", function()
  local seqs = {{1, 2, 3, 4, 5}, {6, 7}, {2, 8, 9, 6}, {3, 4, 5, 6, 7, 8, 9, 1}}
  local split = batches.paper_split(seqs)
  T.eq(split.train[1], {1, 2, 3})
  T.eq(split.valid[1], 4)
  T.eq(split.test[1], 5)
  T.eq(split.train[2], {6, 7}, "a user with 2 items only trains")
  T.eq(split.valid[2], nil)
  local L, n_items = 4, 10
  local sampler = batches.paper_sampler(split.train, 5, n_items, L, tensor.generator(4))
  T.eq(sampler.n, 4, "users with more than one training item")
  for _ = 1, 5 do
    local seq, pos, neg, rows = sampler:batch(16)
    local S, P, Nn = seq:tolist(), pos:tolist(), neg:tolist()
    local want_rows = {}
    for b = 1, 16 do
      -- find the user: the sequence's last training item identifies it here
      local u
      for cand = 1, 4 do
        local t = split.train[cand]
        if #t > 1 and P[b][L] == t[#t] and S[b][L] == t[#t - 1] then u = cand end
      end
      T.ok(u ~= nil, "row " .. b .. " is a user's last window")
      local t = split.train[u]
      for k = 1, L do
        local src = #t - L + k -- pos[k] = t[src], seq[k] = t[src - 1]
        T.eq(P[b][k], src >= 2 and t[src] or 0, "pos")
        T.eq(S[b][k], src >= 2 and t[src - 1] or 0, "seq")
        if P[b][k] ~= 0 then
          want_rows[#want_rows + 1] = (b - 1) * L + (k - 1)
          local inset = false
          for _, v in ipairs(t) do if v == Nn[b][k] then inset = true end end
          T.ok(not inset and Nn[b][k] >= 1 and Nn[b][k] < n_items, "negative outside the training items")
        end
      end
    end
    T.eq(rows:tolist(), want_rows, "rows = non-padding targets")
  end
  local users, hist, targets = batches.paper_eval_rows(split, L, "valid")
  T.eq(users, {1, 3, 4})
  T.eq(hist:tolist(), {{0, 1, 2, 3}, {0, 0, 2, 8}, {5, 6, 7, 8}})
  T.eq(targets:tolist(), {4, 9, 9})
  local _, thist, ttargets, rated = batches.paper_eval_rows(split, L, "test")
  T.eq(thist:tolist(), {{1, 2, 3, 4}, {0, 2, 8, 9}, {6, 7, 8, 9}}, "test input = train + valid item")
  T.eq(ttargets:tolist(), {5, 6, 1})
  T.eq(rated[1], {1, 2, 3}, "rated = training items only (as the paper's code)")
end)

T.done()
