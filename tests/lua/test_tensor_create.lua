-- test_tensor_create.lua — creation functions and dtypes of recx.tensor.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

T.case("from infers shapes from nested tables", function()
  local a = tensor.from({{1, 2, 3}, {4, 5, 6}})
  T.eq(a:shape(), {2, 3})
  T.eq(a:dtype(), "f32")
  T.eq(a:device(), "cpu")
  T.eq(a:tolist(), {{1.0, 2.0, 3.0}, {4.0, 5.0, 6.0}})
  local c = tensor.from({{{1}, {2}}, {{3}, {4}}, {{5}, {6}}})
  T.eq(c:shape(), {3, 2, 1})
  T.eq(c:numel(), 6)
  T.eq(c:dim(), 3)
  T.eq(tensor.from({}):shape(), {0})
  T.eq(tensor.from({{}, {}}):shape(), {2, 0})
  local s = tensor.from(2.5)
  T.eq(s:shape(), {})
  T.eq(s:item(), 2.5)
  T.eq(s:tolist(), 2.5)
end)

T.case("from: booleans make bool tensors, dtypes by name", function()
  local b = tensor.from({true, false, true})
  T.eq(b:dtype(), "bool")
  T.eq(b:tolist(), {true, false, true})
  T.eq(tensor.from(true):item(), true)
  local i = tensor.from({1, 2, 3}, {dtype = "i64"})
  T.eq(i:dtype(), "i64")
  T.eq(i:tolist(), {1, 2, 3})
  -- i64 keeps every bit of a Lua integer (no trip through double)
  local big = tensor.from({math.maxinteger, math.mininteger, 9007199254740993}, {dtype = "i64"})
  T.eq(big:tolist(), {math.maxinteger, math.mininteger, 9007199254740993})
  T.eq(tensor.from({1.9, -1.9}, {dtype = "int64"}):tolist(), {1, -1}, "floats truncate toward zero")
  -- torch names and the torch. prefix
  local names = {
    f32 = "f32", float32 = "f32", float = "f32", ["torch.float32"] = "f32",
    f16 = "f16", float16 = "f16", half = "f16",
    bf16 = "bf16", bfloat16 = "bf16", ["torch.bfloat16"] = "bf16",
    f64 = "f64", float64 = "f64", double = "f64",
    i32 = "i32", int32 = "i32", int = "i32",
    i64 = "i64", int64 = "i64", long = "i64", ["torch.int64"] = "i64",
    u8 = "u8", uint8 = "u8", bool = "bool",
  }
  for name, want in pairs(names) do
    T.eq(tensor.zeros(2, {dtype = name}):dtype(), want, name)
  end
end)

T.case("every dtype holds small values exactly", function()
  local values = {0, 1, 2, 3, 100}
  for _, dt in ipairs({"f32", "f16", "bf16", "f64"}) do
    T.eq(tensor.from(values, {dtype = dt}):tolist(), {0.0, 1.0, 2.0, 3.0, 100.0}, dt)
  end
  for _, dt in ipairs({"i32", "i64", "u8"}) do
    T.eq(tensor.from(values, {dtype = dt}):tolist(), values, dt)
  end
  T.eq(tensor.from(values, {dtype = "bool"}):tolist(), {false, true, true, true, true})
  T.eq(tensor.from({true, false}, {dtype = "f32"}):tolist(), {1.0, 0.0})
  -- rounding of the narrow float types
  T.eq(tensor.from({1 / 3}, {dtype = "bf16"}):item(), 0.333984375)
  T.eq(tensor.from({1 / 3}, {dtype = "f16"}):item(), 0.333251953125)
  T.eq(tensor.from({0.1}):item(), 0.100000001490116119384765625, "f32 rounding of 0.1")
end)

T.case("zeros, ones, empty, full", function()
  T.eq(tensor.zeros({2, 3}):tolist(), {{0.0, 0.0, 0.0}, {0.0, 0.0, 0.0}})
  T.eq(tensor.zeros(2, 3):shape(), {2, 3}, "varargs shape")
  T.eq(tensor.ones(3, {dtype = "i32"}):tolist(), {1, 1, 1})
  T.eq(tensor.ones({}):shape(), {}, "0-d")
  T.eq(tensor.ones({}):item(), 1.0)
  local e = tensor.empty(4, 5, {dtype = "u8"})
  T.eq(e:shape(), {4, 5})
  T.eq(e:dtype(), "u8")
  T.eq(tensor.full({2, 2}, 7.5):tolist(), {{7.5, 7.5}, {7.5, 7.5}})
  T.eq(tensor.full(3, -2, {dtype = "i64"}):tolist(), {-2, -2, -2})
  local fb = tensor.full({2}, true)
  T.eq(fb:dtype(), "bool")
  T.eq(fb:tolist(), {true, true})
  T.eq(tensor.zeros(0, 4):numel(), 0)
end)

T.case("arange", function()
  local a = tensor.arange(5)
  T.eq(a:dtype(), "i64", "integers give i64")
  T.eq(a:tolist(), {0, 1, 2, 3, 4})
  T.eq(tensor.arange(2, 8, 2):tolist(), {2, 4, 6})
  T.eq(tensor.arange(5, 0, -2):tolist(), {5, 3, 1})
  local f = tensor.arange(0, 1, 0.25)
  T.eq(f:dtype(), "f32", "a float argument gives f32")
  T.eq(f:tolist(), {0.0, 0.25, 0.5, 0.75})
  T.eq(tensor.arange(3, {dtype = "f64"}):tolist(), {0.0, 1.0, 2.0})
  T.eq(tensor.arange(0):numel(), 0)
  T.eq(tensor.arange(3, 1):numel(), 0)
end)

T.case("devices: cpu explicit; cuda follows the build", function()
  T.eq(tensor.zeros(2, {device = "cpu"}):device(), "cpu")
  if not recx.cuda.is_available() then
    T.eq(recx.cuda.device_count(), 0)
    T.raises("cuda", tensor.zeros, 2, {device = "cuda"})
    T.raises("cuda", tensor.from, {1, 2}, {device = "cuda:0"})
  else
    T.ok(recx.cuda.device_count() >= 1)
  end
end)

T.case("rand, randn, randint: ranges and moments", function()
  tensor.manual_seed(1234)
  local n = 20000
  local u = tensor.rand(n):tolist()
  local sum, lo, hi = 0, math.huge, -math.huge
  for i = 1, n do
    sum = sum + u[i]; lo = math.min(lo, u[i]); hi = math.max(hi, u[i])
  end
  T.ok(lo >= 0 and hi < 1, "uniform in [0, 1)")
  T.near(sum / n, 0.5, 0.02, "uniform mean")
  local z = tensor.randn({n}, {dtype = "f64"})
  T.eq(z:dtype(), "f64")
  local zs = z:tolist()
  local m, m2 = 0, 0
  for i = 1, n do m = m + zs[i]; m2 = m2 + zs[i] * zs[i] end
  m = m / n
  T.near(m, 0, 0.03, "normal mean")
  T.near(m2 / n - m * m, 1, 0.05, "normal variance")
  local r = tensor.randint(-3, 4, {50, 40})
  T.eq(r:dtype(), "i64")
  T.eq(r:shape(), {50, 40})
  local seen, in_range = {}, true
  for _, row in ipairs(r:tolist()) do
    for _, v in ipairs(row) do
      in_range = in_range and math.type(v) == "integer" and v >= -3 and v < 4
      seen[v] = true
    end
  end
  T.ok(in_range, "randint gives integers in [low, high)")
  for v = -3, 3 do T.ok(seen[v], "randint hits " .. v) end
  T.eq(tensor.randint(0, 5, 3, {dtype = "i32"}):dtype(), "i32")
end)

T.case("manual_seed and generators reproduce draws", function()
  tensor.manual_seed(42)
  local a = tensor.rand(8):tolist()
  tensor.manual_seed(42)
  local b = tensor.rand(8):tolist()
  T.eq(a, b, "same seed, same numbers")
  local c = tensor.rand(8):tolist()
  T.ok(c[1] ~= b[1] or c[2] ~= b[2], "the default generator advances")

  local g = tensor.generator(7)
  T.eq(g:seed(), 7)
  T.eq(type(g:state()), "table")
  T.eq(g:state().seed, 7)
  T.eq(g:state().offset, 0)
  local x = tensor.rand(5, {generator = g}):tolist()
  T.ok(g:state().offset > 0, "drawing advances the offset")
  local saved = g:state()
  local y = tensor.randn(3, {generator = g}):tolist()
  g:set_state(saved)
  T.eq(tensor.randn(3, {generator = g}):tolist(), y, "set_state replays")
  g:seed(7)
  T.eq(g:state().offset, 0, "seed(n) resets the offset")
  T.eq(tensor.rand(5, {generator = g}):tolist(), x, "reseeding replays")
  local g2 = tensor.generator(7)
  T.eq(tensor.rand(5, {generator = g2}):tolist(), x, "two generators with one seed agree")
  -- a private generator does not disturb the default one
  tensor.manual_seed(42)
  tensor.rand(3, {generator = tensor.generator(99)})
  T.eq(tensor.rand(8):tolist(), a)
  T.ok(tostring(g):find("generator(seed=7", 1, true) ~= nil)
end)

T.case("bernoulli and multinomial", function()
  tensor.manual_seed(5)
  local p = tensor.from({0.0, 1.0, 0.0, 1.0})
  T.eq(p:bernoulli():tolist(), {0.0, 1.0, 0.0, 1.0}, "p = 0 and 1 are certain")
  local b = tensor.bernoulli(0.3, {10000})
  T.eq(b:dtype(), "f32")
  local s, binary = 0, true
  for _, v in ipairs(b:tolist()) do
    binary = binary and (v == 0 or v == 1)
    s = s + v
  end
  T.ok(binary, "bernoulli draws 0 or 1")
  T.near(s / 10000, 0.3, 0.05, "bernoulli rate")
  local probs = tensor.from({0.0, 0.0, 1.0, 0.0})
  T.eq(probs:multinomial(3, true):tolist(), {2, 2, 2}, "0-based index of the only non-zero weight")
  local w = tensor.from({1.0, 1.0, 1.0, 1.0})
  local draw = w:multinomial(4, false):tolist()
  table.sort(draw)
  T.eq(draw, {0, 1, 2, 3}, "without replacement each index once")
  local counts = {[0] = 0, 0, 0}
  for _, v in ipairs(tensor.from({1.0, 3.0, 0.0}):multinomial(4000, true):tolist()) do
    counts[v] = counts[v] + 1
  end
  T.eq(counts[2], 0)
  T.near(counts[1] / 4000, 0.75, 0.05)
end)

T.done()
