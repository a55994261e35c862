-- test_copy_at.lua — x:copy_at_(dim, offset, src) from Lua: 1-based dims, 0-based offsets held in
-- i32/i64 tensors, views as destinations, the offset rewritten between calls (the decode-step
-- pattern), and the errors in Lua terms (argument positions with self as #1, dims from 1).
-- References are plain Lua tables built here.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

-- (2, 4, 3) of 0..23 as f32, and the same table
local function cube()
  local t, v = {}, 0
  for i = 1, 2 do
    t[i] = {}
    for j = 1, 4 do
      t[i][j] = {}
      for k = 1, 3 do t[i][j][k] = v; v = v + 1 end
    end
  end
  return tensor.from(t), t
end

local function off(n, dtype) return tensor.from({n}, {dtype = dtype or "i64"}) end

T.case("writes the slice at the offset and returns self", function()
  local x, ref = cube()
  local src = tensor.from({{{-1, -2, -3}}, {{-4, -5, -6}}})   -- (2, 1, 3)
  local r = x:copy_at_(2, off(2), src)
  T.ok(rawequal(r, x), "returns self")
  ref[1][3] = {-1, -2, -3}
  ref[2][3] = {-4, -5, -6}
  T.eq(x:tolist(), ref)
  -- the last dim, both ends, an i32 offset
  x:copy_at_(3, off(0, "i32"), tensor.full({2, 4, 1}, 100))
  x:copy_at_(-1, off(2, "i32"), tensor.full({2, 4, 1}, 200))
  for i = 1, 2 do
    for j = 1, 4 do ref[i][j][1] = 100; ref[i][j][3] = 200 end
  end
  T.eq(x:tolist(), ref)
  -- a 0-d offset tensor, dim 1, the whole dim
  local y = tensor.zeros(2, 3)
  y:copy_at_(1, tensor.from(0, {dtype = "i64"}):view({}), tensor.ones(2, 3))
  T.eq(y:tolist(), {{1, 1, 1}, {1, 1, 1}})
end)

T.case("the decode pattern: one offset tensor rewritten per step", function()
  local cache = tensor.zeros(1, 2, 5, 2, {dtype = "bf16"})      -- (B, G, S, D)
  local pos = tensor.zeros(1, {dtype = "i64"})
  local want = {}
  for g = 1, 2 do
    want[g] = {}
    for s = 1, 5 do want[g][s] = {0, 0} end
  end
  for step = 0, 4 do
    pos:fill_(step)
    local k = tensor.full({1, 2, 1, 2}, step + 1, {dtype = "bf16"})
    cache:copy_at_(3, pos, k)
    for g = 1, 2 do want[g][step + 1] = {step + 1, step + 1} end
  end
  T.eq(cache:to("f32"):tolist(), {want})
  T.eq(cache:dtype(), "bf16")
end)

T.case("views: a transposed destination and a strided source", function()
  local base = tensor.zeros(3, 4)
  local v = base:t()                                            -- (4, 3), strides (1, 4)
  v:copy_at_(1, off(1), tensor.from({{1, 2, 3}, {4, 5, 6}}))    -- rows 2..3 of v = cols 2..3 of base
  T.eq(base:tolist(), {{0, 1, 4, 0}, {0, 2, 5, 0}, {0, 3, 6, 0}})
  local m = tensor.zeros(2, 4)
  m:copy_at_(2, off(1), tensor.from({{7, 8}, {9, 10}}):t())     -- source (2, 2) transposed
  T.eq(m:tolist(), {{0, 7, 9, 0}, {0, 8, 10, 0}})
end)

T.case("errors name the argument, dims from 1", function()
  local x = tensor.zeros(2, 4, 3)
  local src = tensor.ones(2, 1, 3)
  T.raises("copy_at_: argument #3: offset 4 out of range [0, 3] for dim 2 of size 4 and a source of length 1",
    x.copy_at_, x, 2, off(4), src)
  T.raises("copy_at_: argument #3: offset -1 out of range [0, 3]", x.copy_at_, x, 2, off(-1), src)
  T.eq(x:sum():item(), 0, "nothing written by a failed call")
  T.raises("copy_at_: argument #3: expected an i32 or i64 index tensor, got f32", x.copy_at_, x, 2, tensor.from({1}), src)
  T.raises("copy_at_: argument #3: expected an offset tensor with one element, got shape (2)",
    x.copy_at_, x, 2, tensor.from({1, 2}, {dtype = "i64"}), src)
  T.raises("copy_at_: argument #3: expected a tensor, got number", x.copy_at_, x, 2, 1, src)
  T.raises("copy_at_: argument #4: expected a tensor, got no value", x.copy_at_, x, 2, off(0))
  T.raises("copy_at_: argument #1 is f32 but argument #4 is f64", x.copy_at_, x, 2, off(0), src:to("f64"))
  T.raises("copy_at_: argument #4: expected the shape of argument #1 (2, 4, 3) except along dim 2, got (2, 1, 2)",
    x.copy_at_, x, 2, off(0), tensor.ones(2, 1, 2))
  T.raises("copy_at_: argument #4: length 5 along dim 2 exceeds the size 4 of argument #1 there",
    x.copy_at_, x, 2, off(0), tensor.ones(2, 5, 3))
  T.raises("copy_at_: argument #2: dim 4 out of range for a 3-D tensor", x.copy_at_, x, 4, off(0), src)
  T.raises("copy_at_: argument #2: dim 0 out of range", x.copy_at_, x, 0, off(0), src)
  T.raises("copy_at_: argument #1: expected a tensor with at least one dim, got a 0-d tensor",
    tensor.copy_at_, tensor.from(1):view({}), 1, off(0), tensor.from(1):view({}))
  local w = tensor.zeros(2, 4, 3):requires_grad(true)
  T.raises("copy_at_: argument #1 requires grad", w.copy_at_, w, 2, off(0), src)
  recx.no_grad(function() w:copy_at_(2, off(3), src) end)
  T.eq(w:detach():sum():item(), 6, "allowed under no_grad")
end)

T.done()
