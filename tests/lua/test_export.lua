-- test_export.lua — recx.rec.export (SPEC 3.3) checked row by row on tiny models.
--
-- Owns: every *_top.txt line of a 30-item MF model against scores recomputed in Lua doubles from
-- the model's weights: the line layout, `times` lines per row, top = the r-th best unmasked item,
-- topk = 5 distinct unmasked items in recommender order, pos above the top-20% threshold
-- (the score of the (n // 5 + 1)-th best id, masked ids included at -inf), neg below the 50%
-- threshold and finite, pos/neg distinct across a row's lines, the written scores equal to the
-- recomputed ones, past history and padding never recommended while a future item may be;
-- sim_item = the arg-max over the other real items; SASRec rows use the left-padded history
-- before the item (user vectors checked against the model on hand-built histories); the f32 score
-- format round-trips; replay for one seed; the ids file reader and its errors.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local MF = require "recx.models.mf"
local SASRec = require "recx.models.sasrec"
local export = require "recx.rec.export"

recx.num_threads(1)

local n_items, dim = 30, 4
local seqs = {{1, 2, 3, 4}, {5, 6, 7, 8, 9, 10}, {11, 12, 13, 14, 15}, {2, 16, 17, 18, 19}, {20, 21, 22, 23, 24, 25, 26}}

local function mf_model()
  local m = MF({n_users = 6, n_items = n_items, dim = dim, seed = 5})
  local g = tensor.generator(9)
  local users = tensor.randn({6, dim}, {generator = g})
  local items = tensor.randn({n_items, dim}, {generator = g})
  -- item 4 (a future item for the row (1, 2)) points along user 1: it must be the top pick there
  local u1 = users:select(1, 2):tolist()
  local w = items:tolist()
  w[5] = {10 * u1[1], 10 * u1[2], 10 * u1[3], 10 * u1[4]}
  m:load_state_dict({["user_embedding.weight"] = users, ["item_embedding.weight"] = tensor.from(w)})
  return m:eval()
end

local function split_line(line)
  local f = {}
  for x in (line .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = x end
  return f
end

T.case("MF *_top rows follow every rule (times = 1 and 6)", function()
  local m = mf_model()
  local U, V = m.user_embedding.weight:tolist(), m.item_embedding.weight:tolist()
  local rows = export.rows_for(seqs, "train")
  for _, r in ipairs(export.rows_for(seqs, "test")) do rows[#rows + 1] = r end
  for _, times in ipairs({1, 6}) do
    local lines = export.top_lines(m, seqs, rows, {times = times, batch = 3, generator = tensor.generator(7)})
    T.eq(#lines, #rows * times, "times lines per row")
    for k, row in ipairs(rows) do
      local uid, iid = row[1], row[2]
      -- hand scores, masks and order
      local past, masked = {}, {[0] = true}
      for _, v in ipairs(seqs[uid]) do
        if v == iid then break end
        past[#past + 1] = v
        masked[v] = true
      end
      local s, order = {}, {}
      for i = 0, n_items - 1 do
        local d = 0.0
        for c = 1, dim do d = d + U[uid + 1][c] * V[i + 1][c] end
        s[i] = masked[i] and -math.huge or d
        order[#order + 1] = i
      end
      table.sort(order, function(a, b) return s[a] > s[b] or (s[a] == s[b] and a < b) end)
      local t_pos, t_neg = s[order[n_items // 5 + 1]], s[order[n_items // 2 + 1]]
      local pos_seen, neg_seen = {}, {}
      for r = 1, times do
        local f = split_line(lines[(k - 1) * times + r])
        T.eq(#f, 8, "8 fields")
        T.eq({tonumber(f[1]), tonumber(f[2])}, {uid, iid}, "uid, iid")
        local top, pos, neg = tonumber(f[3]), tonumber(f[5]), tonumber(f[6])
        T.eq(top, order[r], "top = the r-th best")
        local topk = {}
        for x in f[4]:gmatch("%d+") do topk[#topk + 1] = tonumber(x) end
        T.eq(#topk, 5, "5 items")
        local ok_topk = true
        for j, x in ipairs(topk) do
          if masked[x] then ok_topk = false end
          if j > 1 and not (s[topk[j - 1]] >= s[x]) then ok_topk = false end
          for jj = 1, j - 1 do if topk[jj] == x then ok_topk = false end end
        end
        T.ok(ok_topk, "topk distinct, unmasked, in recommender order: " .. f[4])
        T.ok(not masked[top], "top not in the history")
        T.ok(s[pos] > t_pos - 1e-6 and s[pos] ~= -math.huge, "pos above the 20% threshold")
        T.ok(s[neg] < t_neg + 1e-6 and s[neg] ~= -math.huge, "neg below the 50% threshold and finite")
        T.near(tonumber(f[7]), s[pos], 1e-5, "score(pos)")
        T.near(tonumber(f[8]), s[neg], 1e-5, "score(neg)")
        T.ok(not pos_seen[pos] and not neg_seen[neg], "pos / neg distinct across the row's lines")
        pos_seen[pos], neg_seen[neg] = true, true
      end
    end
    -- the future item 4 is the top pick for the row (1, 2) (future items are not masked)
    T.eq(tonumber(split_line(lines[1])[3]), 4, "future item recommended")
  end
end)

T.case("replay for one seed; different seeds differ", function()
  local m = mf_model()
  local rows = export.rows_for(seqs, "train")
  local a = export.top_lines(m, seqs, rows, {times = 2, generator = tensor.generator(3)})
  local b = export.top_lines(m, seqs, rows, {times = 2, generator = tensor.generator(3)})
  local c = export.top_lines(m, seqs, rows, {times = 2, generator = tensor.generator(4)})
  T.eq(a, b, "same seed")
  T.ok(table.concat(a, "\n") ~= table.concat(c, "\n"), "another seed")
end)

T.case("sim_item is the arg-max over the other real items", function()
  local m = mf_model()
  local V = m.item_embedding.weight:tolist()
  local sim = export.sim_items(m, {batch = 7})
  T.eq(#sim, n_items - 1)
  for i = 1, n_items - 1 do
    local best, bj = -math.huge, nil
    for j = 1, n_items - 1 do
      if j ~= i then
        local d = 0.0
        for c = 1, dim do d = d + V[i + 1][c] * V[j + 1][c] end
        if d > best then best, bj = d, j end
      end
    end
    T.eq(sim[i], bj, "sim of " .. i)
  end
end)

T.case("SASRec rows use the left-padded history before the item", function()
  local m = SASRec.build({n_items = n_items, dim = 8, layers = 1, heads = 2, inner = 16, max_len = 3, seed = 2}):eval()
  local rows = {{2, 9}, {4, 16}, {1, 4}}
  local got = export.user_vectors(m, seqs, rows, {batch = 2})
  local hist = tensor.from({{6, 7, 8}, {0, 0, 2}, {1, 2, 3}}, {dtype = "i64"})
  local want = recx.no_grad(function() return m:user_embedding(hist) end)
  T.near((got - want):abs():max():item(), 0, 1e-6, "user vectors")
  local lines = export.top_lines(m, seqs, rows, {generator = tensor.generator(1)})
  local s = recx.no_grad(function() return m:scores(hist) end):tolist()
  for k, row in ipairs(rows) do
    local f = split_line(lines[k])
    local best, bi = -math.huge, nil
    local masked = {[0] = true}
    for _, v in ipairs(seqs[row[1]]) do if v == row[2] then break end; masked[v] = true end
    for i = 0, n_items - 1 do if not masked[i] and s[k][i + 1] > best then best, bi = s[k][i + 1], i end end
    T.eq(tonumber(f[3]), bi, "top of row " .. k)
  end
end)

T.case("score format, ids files and errors", function()
  for _, v in ipairs({0.1, -1.2345678, 3.0, 1e-7, 123456.78}) do
    local text = export.format_score(v)
    T.eq(string.unpack("f", string.pack("f", tonumber(text))), string.unpack("f", string.pack("f", v)), text)
  end
  T.eq(export.format_score(0.1), "0.1")
  local path = os.tmpname()
  local f = assert(io.open(path, "w"))
  f:write("user_id\titem_id\n1\t2\n3\t4\n")
  f:close()
  T.eq(export.read_ids(path), {{1, 2}, {3, 4}})
  f = assert(io.open(path, "w"))
  f:write("uid iid\n1 2\n")
  f:close()
  T.raises("expected the header", function() export.read_ids(path) end)
  os.remove(path)
  T.raises("item 99 is not in user 1's sequence",
    function() export.top_lines(mf_model(), seqs, {{1, 99}}, {generator = tensor.generator(1)}) end)
  T.eq(export.sample_range(3, 3, 1, {0.99}, 1), {3}, "a one-element range")
end)

T.done()
