-- test_tensor_ops.lua — elementwise ops and metamethods against values computed here in Lua.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

-- Reference functions in double precision (Lua 5.4 has no tanh, erf, log1p, expm1).
local function tanh(x)
  if x > 20 then return 1.0 elseif x < -20 then return -1.0 end
  local e = math.exp(2 * x)
  return (e - 1) / (e + 1)
end
local function erf(x) -- Maclaurin series, converges to double precision for |x| <= 3
  local sum, term, n = 0.0, x, 0
  repeat
    sum = sum + term / (2 * n + 1)
    n = n + 1
    term = -term * x * x / n
  until math.abs(term) < 1e-17 * math.abs(sum) or n > 200
  return 2 / math.sqrt(math.pi) * sum
end
local function sigmoid(x) return 1 / (1 + math.exp(-x)) end
local function round_even(x)
  local f = math.floor(x)
  local d = x - f
  if d > 0.5 then return f + 1.0 elseif d < 0.5 then return f + 0.0 end
  return (f % 2 == 0) and f + 0.0 or f + 1.0
end
local function sign(x) return x > 0 and 1.0 or x < 0 and -1.0 or 0.0 end

local any = {-2.5, -1.0, -0.25, 0.0, 0.5, 1.5, 3.0}
local pos = {0.125, 0.5, 1.0, 2.0, 7.5}
local unary = {
  {"neg", any, function(x) return -x end},
  {"abs", any, math.abs},
  {"exp", any, math.exp},
  {"log", pos, math.log},
  {"sqrt", pos, math.sqrt},
  {"rsqrt", pos, function(x) return 1 / math.sqrt(x) end},
  {"sin", any, math.sin},
  {"cos", any, math.cos},
  {"tanh", any, tanh},
  {"sigmoid", any, sigmoid},
  {"relu", any, function(x) return math.max(x, 0.0) end},
  {"silu", any, function(x) return x * sigmoid(x) end},
  {"gelu", any, function(x) return 0.5 * x * (1 + erf(x / math.sqrt(2))) end},
  {"gelu_tanh", any, function(x)
    return 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ^ 3))) end},
  {"reciprocal", pos, function(x) return 1 / x end},
  {"square", any, function(x) return x * x end},
  {"log1p", pos, function(x) return math.log(1 + x) end},
  {"expm1", any, function(x) return math.exp(x) - 1 end},
  {"floor", any, function(x) return math.floor(x) + 0.0 end},
  {"ceil", any, function(x) return math.ceil(x) + 0.0 end},
  {"round", {-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 0.49, 1.51}, round_even},
  {"sign", any, sign},
}

local function map(list, f)
  local out = {}
  for i, v in ipairs(list) do out[i] = f(v) end
  return out
end

T.case("unary ops by name, f32 and f64, method and function forms", function()
  for _, u in ipairs(unary) do
    local name, xs, ref = u[1], u[2], u[3]
    local want = map(xs, ref)
    for _, dt in ipairs({"f32", "f64"}) do
      local x = tensor.from(xs, {dtype = dt})
      local tol = dt == "f32" and 2e-6 or 1e-12
      T.near(x[name](x):tolist(), want, tol, name .. " " .. dt)
    end
    local x = tensor.from(xs)
    T.near(tensor[name](x):tolist(), want, 2e-6, "recx.tensor." .. name)
  end
  T.eq(tensor.from({true, false}):logical_not():tolist(), {false, true})
  T.eq(tensor.from({0, 2, -1}, {dtype = "i64"}):logical_not():tolist(), {true, false, false})
end)

T.case("unary ops on non-contiguous views and narrow dtypes", function()
  local base = tensor.from({{0.5, 1.0, 2.0}, {4.0, 8.0, 16.0}})
  T.near(base:t():log():tolist(),
    {{math.log(0.5), math.log(4)}, {0.0, math.log(8)}, {math.log(2), math.log(16)}}, 2e-6, "transposed")
  T.near(base:narrow(2, 2, 2):sqrt():tolist(), {{1.0, math.sqrt(2)}, {math.sqrt(8), 4.0}}, 2e-6, "narrowed")
  T.near(tensor.from({2.0}):expand(3):exp():tolist(), {math.exp(2), math.exp(2), math.exp(2)}, 2e-6, "expanded")
  local h = tensor.from({0.5, 1.0, 2.0}, {dtype = "bf16"}):exp()
  T.eq(h:dtype(), "bf16")
  T.near(h:tolist(), {math.exp(0.5), math.exp(1), math.exp(2)}, 8e-3)
  T.eq(tensor.from({-3, 4}, {dtype = "i32"}):abs():tolist(), {3, 4})
  T.eq(tensor.from({-3, 4}, {dtype = "i64"}):neg():tolist(), {3, -4})
end)

T.case("binary ops with tensors and broadcasting", function()
  local a = tensor.from({{1, 2, 3}, {4, 5, 6}})
  local row = tensor.from({10, 20, 30})
  local col = tensor.from({{2}, {4}})
  T.eq(a:add(row):tolist(), {{11.0, 22.0, 33.0}, {14.0, 25.0, 36.0}})
  T.eq(a:sub(col):tolist(), {{-1.0, 0.0, 1.0}, {0.0, 1.0, 2.0}})
  T.eq(a:mul(col):tolist(), {{2.0, 4.0, 6.0}, {16.0, 20.0, 24.0}})
  T.eq(a:div(col):tolist(), {{0.5, 1.0, 1.5}, {1.0, 1.25, 1.5}})
  T.eq(col:pow(a):tolist(), {{2.0, 4.0, 8.0}, {256.0, 1024.0, 4096.0}})
  T.eq(a:maximum(tensor.from({3, 3, 3})):tolist(), {{3.0, 3.0, 3.0}, {4.0, 5.0, 6.0}})
  T.eq(a:minimum(col):tolist(), {{1.0, 2.0, 2.0}, {4.0, 4.0, 4.0}})
  T.eq(tensor.from({7, -7, 7, -7}):remainder(tensor.from({3, 3, -3, -3})):tolist(),
    {7 % 3 + 0.0, -7 % 3 + 0.0, 7 % -3 + 0.0, -7 % -3 + 0.0}, "sign of the divisor, like Lua's %")
  T.eq(col:add(row):shape(), {2, 3}, "(2, 1) + (3) broadcasts to (2, 3)")
  T.eq(a:t():add(a:t()):tolist(), {{2.0, 8.0}, {4.0, 10.0}, {6.0, 12.0}}, "non-contiguous operands")
  T.eq(tensor.add(a, 1):tolist(), {{2.0, 3.0, 4.0}, {5.0, 6.0, 7.0}}, "function form")
end)

T.case("metamethods with numbers on either side", function()
  local x = tensor.from({1, 2, 4})
  T.eq((x + 1):tolist(), {2.0, 3.0, 5.0})
  T.eq((1 + x):tolist(), {2.0, 3.0, 5.0})
  T.eq((x - 1):tolist(), {0.0, 1.0, 3.0})
  T.eq((2 - x):tolist(), {1.0, 0.0, -2.0})
  T.eq((x * 3):tolist(), {3.0, 6.0, 12.0})
  T.eq((3 * x):tolist(), {3.0, 6.0, 12.0})
  T.eq((x / 2):tolist(), {0.5, 1.0, 2.0})
  T.eq((2 / x):tolist(), {2.0, 1.0, 0.5})
  T.eq((x % 3):tolist(), {1.0, 2.0, 1.0})
  T.eq((5 % x):tolist(), {0.0, 1.0, 1.0})
  T.eq((x ^ 2):tolist(), {1.0, 4.0, 16.0})
  T.eq((2 ^ x):tolist(), {2.0, 4.0, 16.0})
  T.eq((-x):tolist(), {-1.0, -2.0, -4.0})
  T.eq((x + x * x):tolist(), {2.0, 6.0, 20.0})
  T.near(((x - 1) / (x + 1)):tolist(), {0.0, 1 / 3, 3 / 5}, 1e-7, "f32 rounding of 1/3 and 3/5")
  local i = tensor.from({-7, 7}, {dtype = "i64"})
  T.eq((i % 3):tolist(), {2, 1}, "integer remainder")
  T.eq((i * 2 + 1):tolist(), {-13, 15})
  T.eq((10 - i):tolist(), {17, 3})
  T.eq((i + 0.0):tolist(), {-7, 7}, "an integral float combines with integers")
end)

T.case("comparisons and logical ops give bool", function()
  local x = tensor.from({1, 2, 3})
  local y = tensor.from({3, 2, 1})
  T.eq(x:eq(y):tolist(), {false, true, false})
  T.eq(x:ne(y):tolist(), {true, false, true})
  T.eq(x:lt(y):tolist(), {true, false, false})
  T.eq(x:le(y):tolist(), {true, true, false})
  T.eq(x:gt(2):tolist(), {false, false, true})
  T.eq(x:ge(2):tolist(), {false, true, true})
  T.eq(tensor.lt(2, x):tolist(), {false, false, true}, "2 < x")
  T.eq(x:eq(2):dtype(), "bool")
  T.eq(tensor.from({2, 3}, {dtype = "i64"}):lt(2.5):tolist(), {true, false}, "integer vs fractional number")
  local p = tensor.from({true, true, false, false})
  local q = tensor.from({true, false, true, false})
  T.eq(p:logical_and(q):tolist(), {true, false, false, false})
  T.eq(p:logical_or(q):tolist(), {true, true, true, false})
  T.eq(p:logical_and(true):tolist(), {true, true, false, false})
end)

T.case("in-place add_, sub_, mul_, div_", function()
  local x = tensor.from({1, 2, 3})
  T.ok(rawequal(x:add_(1), x), "returns self")
  T.eq(x:tolist(), {2.0, 3.0, 4.0})
  x:sub_(tensor.from({1, 1, 1}))
  T.eq(x:tolist(), {1.0, 2.0, 3.0})
  x:mul_(tensor.from({2, 3, 4}))
  T.eq(x:tolist(), {2.0, 6.0, 12.0})
  x:div_(4)
  T.eq(x:tolist(), {0.5, 1.5, 3.0})
  local m = tensor.zeros(2, 3)
  m:add_(tensor.from({1, 2, 3}))        -- broadcast
  m:select(1, 2):mul_(10)                -- through a view
  T.eq(m:tolist(), {{1.0, 2.0, 3.0}, {10.0, 20.0, 30.0}})
  local i = tensor.from({5, 6}, {dtype = "i64"})
  i:add_(2)
  T.eq(i:tolist(), {7, 8})
end)

T.case("clamp, where, masked_fill", function()
  local x = tensor.from({-2, -0.5, 0.5, 2})
  T.eq(x:clamp(-1, 1):tolist(), {-1.0, -0.5, 0.5, 1.0})
  T.eq(x:clamp(0):tolist(), {0.0, 0.0, 0.5, 2.0}, "only a lower bound")
  T.eq(x:clamp(nil, 0):tolist(), {-2.0, -0.5, 0.0, 0.0}, "only an upper bound")
  local cond = tensor.from({true, false, true, false})
  local y = tensor.from({10, 20, 30, 40})
  T.eq(tensor.where(cond, x, y):tolist(), {-2.0, 20.0, 0.5, 40.0})
  T.eq(tensor.where(cond, x, 0):tolist(), {-2.0, 0.0, 0.5, 0.0})
  T.eq(tensor.where(cond, 1, y):tolist(), {1.0, 20.0, 1.0, 40.0})
  T.eq(tensor.where(x:gt(0), x, x:neg()):tolist(), {2.0, 0.5, 0.5, 2.0}, "abs through where")
  local m = tensor.from({{1, 2}, {3, 4}})
  local mask = tensor.from({true, false})  -- broadcast over rows
  T.eq(m:masked_fill(mask, -1):tolist(), {{-1.0, 2.0}, {-1.0, 4.0}})
  T.eq(m:tolist(), {{1.0, 2.0}, {3.0, 4.0}}, "masked_fill copies")
end)

T.done()
