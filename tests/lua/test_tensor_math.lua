-- test_tensor_math.lua — reductions, scans, softmax, sorting, matmul, indexing and joining,
-- checked against values computed here by hand. Index contents are 0-based offsets.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

local A = {{1, 5, 3}, {4, 2, 6}}
local function a(dtype) return tensor.from(A, {dtype = dtype}) end

T.case("sum, mean, prod over all dims, one dim, several dims", function()
  local x = a()
  local s = x:sum()
  T.eq(s:shape(), {})
  T.eq(s:item(), 21.0)
  T.eq(x:sum(1):tolist(), {5.0, 7.0, 9.0})
  T.eq(x:sum(2):tolist(), {9.0, 12.0})
  T.eq(x:sum(-1):tolist(), {9.0, 12.0})
  T.eq(x:sum({1, 2}):item(), 21.0)
  T.eq(x:sum(1, true):shape(), {1, 3}, "keepdim")
  T.eq(x:sum(-1, true):tolist(), {{9.0}, {12.0}})
  T.eq(x:mean():item(), 3.5)
  T.eq(x:mean(2):tolist(), {3.0, 4.0})
  T.eq(x:prod(2):tolist(), {15.0, 48.0})
  T.eq(x:prod():item(), 720.0)
  T.eq(x:t():sum(1):tolist(), {9.0, 12.0}, "non-contiguous input")
  T.eq(tensor.sum(x, 1):tolist(), {5.0, 7.0, 9.0}, "function form")
  local i = a("i64")
  T.eq(i:sum():dtype(), "i64")
  T.eq(i:sum(2):tolist(), {9, 12})
  local b = tensor.from({{true, false, true}, {false, false, true}})
  T.eq(b:sum():item(), 3, "bools count as i64")
  T.eq(a("f64"):mean(1):tolist(), {2.5, 3.5, 4.5})
  local c = tensor.arange(24, {dtype = "f64"}):view(2, 3, 4)
  T.eq(c:sum({1, 3}):tolist(), {0.0 + 1 + 2 + 3 + 12 + 13 + 14 + 15, 4.0 + 5 + 6 + 7 + 16 + 17 + 18 + 19,
    8.0 + 9 + 10 + 11 + 20 + 21 + 22 + 23})
end)

T.case("max, min, argmax, argmin (0-based indices)", function()
  local x = a()
  T.eq(x:max():item(), 6.0)
  T.eq(x:min():item(), 1.0)
  local v, i = x:max(2)
  T.eq(v:tolist(), {5.0, 6.0})
  T.eq(i:tolist(), {1, 2})
  T.eq(i:dtype(), "i64")
  v, i = x:max(1)
  T.eq(v:tolist(), {4.0, 5.0, 6.0})
  T.eq(i:tolist(), {1, 0, 1})
  v, i = x:min(-1, true)
  T.eq(v:tolist(), {{1.0}, {2.0}})
  T.eq(i:tolist(), {{0}, {1}})
  T.eq(x:max({1, 2}):item(), 6.0, "a table of dims gives values only")
  T.eq(x:argmax():item(), 5, "flattened position of 6")
  T.eq(x:argmax(2):tolist(), {1, 2})
  T.eq(x:argmin(1):tolist(), {0, 1, 0})
  T.eq(tensor.from({3, 7, 7, 1}):argmax():item(), 1, "first of equal maxima")
end)

T.case("any and all", function()
  local b = tensor.from({{true, false}, {false, false}})
  T.eq(b:any():item(), true)
  T.eq(b:all():item(), false)
  T.eq(b:any(2):tolist(), {true, false})
  T.eq(b:all(1):tolist(), {false, false})
  T.eq(tensor.from({1, 2}):all():item(), true, "non-zero numbers are true")
end)

T.case("cumsum", function()
  local x = a()
  T.eq(x:cumsum(2):tolist(), {{1.0, 6.0, 9.0}, {4.0, 6.0, 12.0}})
  T.eq(x:cumsum(1):tolist(), {{1.0, 5.0, 3.0}, {5.0, 7.0, 9.0}})
  T.eq(x:cumsum(-1):tolist(), x:cumsum(2):tolist())
  T.eq(a("i32"):cumsum(2):tolist(), {{1, 6, 9}, {4, 6, 12}})
end)

T.case("softmax and log_softmax", function()
  local rows = {{1, 2, 3}, {-1, 0, 5}}
  local x = tensor.from(rows, {dtype = "f64"})
  local want, want_log = {}, {}
  for r, row in ipairs(rows) do
    local m = math.max(table.unpack(row))
    local z = 0
    for _, v in ipairs(row) do z = z + math.exp(v - m) end
    want[r], want_log[r] = {}, {}
    for c, v in ipairs(row) do
      want[r][c] = math.exp(v - m) / z
      want_log[r][c] = v - m - math.log(z)
    end
  end
  T.near(x:softmax(2):tolist(), want, 1e-12)
  T.near(x:softmax(-1):tolist(), want, 1e-12)
  T.near(x:log_softmax(2):tolist(), want_log, 1e-12)
  T.near(tensor.from(rows):softmax(2):tolist(), want, 1e-6, "f32")
  -- along dim 1 of the transpose equals along dim 2
  T.near(x:t():softmax(1):t():tolist(), want, 1e-12)
  local big = tensor.from({1000, 1000})
  T.near(big:softmax(1):tolist(), {0.5, 0.5}, 1e-7, "no overflow")
end)

T.case("sort and topk", function()
  local x = a()
  local v, i = x:sort()
  T.eq(v:tolist(), {{1.0, 3.0, 5.0}, {2.0, 4.0, 6.0}})
  T.eq(i:tolist(), {{0, 2, 1}, {1, 0, 2}})
  v, i = x:sort(2, true)
  T.eq(v:tolist(), {{5.0, 3.0, 1.0}, {6.0, 4.0, 2.0}})
  T.eq(i:tolist(), {{1, 2, 0}, {2, 0, 1}})
  v, i = x:sort(1)
  T.eq(v:tolist(), {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})
  T.eq(i:tolist(), {{0, 1, 0}, {1, 0, 1}})
  v, i = tensor.from({2, 1, 2, 1}):sort()
  T.eq(i:tolist(), {1, 3, 0, 2}, "stable")
  v, i = x:topk(2)
  T.eq(v:tolist(), {{5.0, 3.0}, {6.0, 4.0}})
  T.eq(i:tolist(), {{1, 2}, {2, 0}})
  v, i = x:topk(1, 1)
  T.eq(v:tolist(), {{4.0, 5.0, 6.0}})
  T.eq(i:tolist(), {{1, 0, 1}})
  v, i = x:topk(2, -1, false)
  T.eq(v:tolist(), {{1.0, 3.0}, {2.0, 4.0}})
  T.eq(i:tolist(), {{0, 2}, {1, 0}})
end)

T.case("matmul against a hand-written product", function()
  local function ref(p, q)
    local out = {}
    for r = 1, #p do
      out[r] = {}
      for c = 1, #q[1] do
        local s = 0.0
        for k = 1, #q do s = s + p[r][k] * q[k][c] end
        out[r][c] = s
      end
    end
    return out
  end
  local P = {{1, 2, 3}, {4, 5, 6}}
  local Q = {{0.5, -1}, {2, 0.25}, {-3, 4}}
  T.near(tensor.from(P):matmul(tensor.from(Q)):tolist(), ref(P, Q), 1e-6)
  T.near(tensor.from(P, {dtype = "f64"}):matmul(tensor.from(Q, {dtype = "f64"})):tolist(), ref(P, Q), 1e-12)
  -- a transposed operand
  local Qt = tensor.from({{0.5, 2, -3}, {-1, 0.25, 4}}):t()
  T.near(tensor.from(P):matmul(Qt):tolist(), ref(P, Q), 1e-6)
  -- batched with a broadcast right side
  local batch = tensor.stack({tensor.from(P), tensor.from(P) * 2})
  local out = batch:matmul(tensor.from(Q))
  T.eq(out:shape(), {2, 2, 2})
  T.near(out:select(1, 2):tolist(), ref({{2, 4, 6}, {8, 10, 12}}, Q), 1e-6)
  -- vectors
  T.near(tensor.from({1, 2, 3}):matmul(tensor.from({4, 5, 6})):item(), 32.0, 1e-6)
  T.near(tensor.from(P):matmul(tensor.from({1, 0, -1})):tolist(), {-2.0, -2.0}, 1e-6)
end)

T.case("index_select, gather, scatter_add (0-based index contents)", function()
  local x = tensor.from({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}})
  local idx = tensor.from({2, 0, 2}, {dtype = "i64"})
  T.eq(x:index_select(1, idx):tolist(), {{7.0, 8.0, 9.0}, {1.0, 2.0, 3.0}, {7.0, 8.0, 9.0}})
  T.eq(x:index_select(2, tensor.from({1}, {dtype = "i32"})):tolist(), {{2.0}, {5.0}, {8.0}})
  local g = tensor.from({{0, 0}, {1, 0}, {2, 2}}, {dtype = "i64"})
  T.eq(x:gather(2, g):tolist(), {{1.0, 1.0}, {5.0, 4.0}, {9.0, 9.0}})
  T.eq(x:gather(1, tensor.from({{2, 1, 0}}, {dtype = "i64"})):tolist(), {{7.0, 5.0, 3.0}})
  local z = tensor.zeros(3, 2)
  local index = tensor.from({{0, 1}, {2, 0}, {0, 1}}, {dtype = "i64"})
  local src = tensor.from({{1, 2}, {3, 4}, {5, 6}})
  T.eq(z:scatter_add(1, index, src):tolist(), {{6.0, 4.0}, {0.0, 8.0}, {3.0, 0.0}})
  T.eq(z:tolist(), {{0.0, 0.0}, {0.0, 0.0}, {0.0, 0.0}}, "scatter_add returns a copy")
end)

T.case("cat and stack", function()
  local p = tensor.from({{1, 2}, {3, 4}})
  local q = tensor.from({{5, 6}})
  T.eq(tensor.cat({p, q}):tolist(), {{1.0, 2.0}, {3.0, 4.0}, {5.0, 6.0}}, "default dim 1")
  T.eq(tensor.cat({p, q:t():expand(2, 1)}, 2):tolist(), {{1.0, 2.0, 5.0}, {3.0, 4.0, 6.0}})
  T.eq(tensor.cat({p, p}, -1):shape(), {2, 4})
  local x, y = tensor.from({1, 2, 3}), tensor.from({4, 5, 6})
  T.eq(tensor.stack({x, y}):tolist(), {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})
  T.eq(tensor.stack({x, y}, 2):tolist(), {{1.0, 4.0}, {2.0, 5.0}, {3.0, 6.0}})
  T.eq(tensor.stack({x, y}, -1):shape(), {3, 2})
  T.eq(tensor.stack({x}):shape(), {1, 3})
end)

T.done()
