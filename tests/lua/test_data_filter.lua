-- test_data_filter.lua — recx.data.filter: dedup, iterative k-core, re-indexing, leave-one-out split.
--
-- Checked: a 5-core that is only stable after two rounds (worked out by hand below); dedup keeps
-- the first occurrence; re-indexing numbers users in the given order and items by first
-- appearance along that order; the split of a length-5 and a length-7 user with max_len 3 written
-- out by hand; bad arguments are errors naming the function and argument.
local T = require "harness"
local filter = require "recx.data.filter"

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

T.case("5-core needs two rounds", function()
  -- Round 1: u7 has 3 items -> dropped. Item counts then: A..C 6, D 5, E 5, F 1, G 5 -> F dropped,
  --          so u6 becomes {A, B, C, G} (4 items).
  -- Round 2: u6 has 4 items -> dropped. Counts: A..E 5, G 4 (u1..u4) -> G dropped; u1..u4 keep 5.
  -- Round 3: nothing changes. Result: u1..u5 each {A, B, C, D, E}.
  local seqs = {
    u1 = {"A", "B", "C", "D", "E", "G"},
    u2 = {"A", "B", "G", "C", "D", "E"},
    u3 = {"A", "B", "C", "D", "E", "G"},
    u4 = {"G", "A", "B", "C", "D", "E"},
    u5 = {"A", "B", "C", "D", "E"},
    u6 = {"A", "B", "C", "F", "G"},
    u7 = {"A", "B", "C"},
  }
  local out, rounds = filter.kcore(seqs, 5)
  T.eq(rounds, 2, "rounds that removed something")
  T.eq(sorted_keys(out), {"u1", "u2", "u3", "u4", "u5"})
  for _, u in ipairs({"u1", "u2", "u3", "u4", "u5"}) do
    T.eq(out[u], {"A", "B", "C", "D", "E"}, u .. " keeps its order without G")
  end
  T.eq(#seqs.u6, 5, "the input is not modified")
  -- with k = 3 one round suffices: only F goes (1 user), u6 keeps {A, B, C, G} and u7 stays
  local o3, r3 = filter.kcore(seqs, 3)
  T.eq(r3, 1, "k = 3 rounds")
  T.eq(o3.u6, {"A", "B", "C", "G"}); T.eq(o3.u7, {"A", "B", "C"})
end)

T.case("k-core with k = 1 keeps everything", function()
  local out, rounds = filter.kcore({[1] = {5}, [2] = {6, 7}}, 1)
  T.eq(rounds, 0)
  T.eq(out[1], {5}); T.eq(out[2], {6, 7})
end)

T.case("dedup keeps the first occurrence", function()
  local out = filter.dedup({u = {3, 1, 3, 2, 1, 4}, v = {7, 7, 7}})
  T.eq(out.u, {3, 1, 2, 4})
  T.eq(out.v, {7})
end)

T.case("re-indexing order", function()
  -- order b, c, a: b -> 1 (z -> 1, x -> 2), c -> 2 (y -> 3, w -> 4), a -> 3 (x = 2, y = 3)
  local r = filter.reindex({a = {"x", "y"}, b = {"z", "x"}, c = {"y", "w"}}, {"b", "c", "a"})
  T.eq(r.seqs, {{1, 2}, {3, 4}, {2, 3}})
  T.eq(r.id2user, {"b", "c", "a"})
  T.eq(r.id2item, {"z", "x", "y", "w"})
  T.eq(r.user2id.a, 3); T.eq(r.item2id.w, 4)
end)

T.case("leave-one-out split, max_len 3", function()
  local s = filter.split({{11, 12, 13, 14, 15}, {21, 22, 23, 24, 25, 26, 27}}, 3)
  local train = {}
  for i, row in ipairs(s.train) do train[i] = {row.user, row.item, row.history} end
  T.eq(train, {
    {1, 12, {0, 0, 11}},
    {1, 13, {0, 11, 12}},
    {1, 14, {11, 12, 13}},
    {2, 22, {0, 0, 21}},
    {2, 23, {0, 21, 22}},
    {2, 24, {21, 22, 23}},
    {2, 25, {22, 23, 24}},
    {2, 26, {23, 24, 25}},
  })
  T.eq(#s.train, (5 + 7) - 2 * 2, "interactions - 2 x users")
  local test = {}
  for i, row in ipairs(s.test) do test[i] = {row.user, row.item, row.history} end
  T.eq(test, {{1, 15, {12, 13, 14}}, {2, 27, {24, 25, 26}}})
end)

T.case("errors name the argument", function()
  T.raises("filter.kcore: argument #2: expected a positive integer k", filter.kcore, {}, 0)
  T.raises("filter.kcore: argument #1: expected a table", filter.kcore, 5, 5)
  T.raises("filter.split: argument #1: user 1 has 2 items", filter.split, {{1, 2}}, 3)
  T.raises("filter.reindex: argument #2: expected the 2 uids", filter.reindex, {a = {1}, b = {2}}, {"a"})
  T.raises("filter.reindex: argument #2: uid c (entry 2) has no sequence", filter.reindex, {a = {1}, b = {2}}, {"a", "c"})
end)

T.done()
