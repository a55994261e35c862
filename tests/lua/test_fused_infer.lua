-- test_fused_infer.lua — the inference-only fusions of the decode step from Lua:
-- F.add_rmsnorm_(x, r, w [, eps = 1e-5]) -> normed and F.swiglu_packed(gu) -> out.
-- References: plain Lua loops in double over the inputs' values (as the tensors hold them), and
-- the unfused ops (x:add_(r) then F.rmsnorm; F.swiglu on the two halves), which the fused ops
-- must match exactly on the CPU. Also: the default eps, a 3-D bf16 input, a transposed r, x
-- updated in place, and the errors in Lua terms (argument positions, grad mode, no_grad).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local F = recx.nn.functional

local function flat(t)
  local out = {}
  local function walk(v)
    if type(v) == "table" then for _, e in ipairs(v) do walk(e) end else out[#out + 1] = v end
  end
  walk(t:tolist())
  return out
end

-- rows of c: x + r (values as f32 sums rounded by the tensor itself), then the RMSNorm with w
local function ref_norm(sum, w, c, eps)
  local y = {}
  for i = 0, #sum // c - 1 do
    local ss = 0
    for j = 1, c do ss = ss + sum[i * c + j] ^ 2 end
    local r = 1 / math.sqrt(ss / c + eps)
    for j = 1, c do y[i * c + j] = sum[i * c + j] * r * w[j] end
  end
  return y
end

local function near_all(got, want, atol, rtol, what)
  T.eq(#got, #want, what .. ": element count")
  local worst, at = 0, 0
  for i = 1, #want do
    local err = math.abs(got[i] - want[i]) - (atol + rtol * math.abs(want[i]))
    if err > worst then worst, at = err, i end
  end
  T.ok(worst <= 0, string.format("%s: element %d is %.9g, expected %.9g", what, at, got[at] or 0, want[at] or 0))
end

local function gen(seed) return tensor.generator(seed) end

T.case("add_rmsnorm_ updates x and returns the norm of the sum", function()
  local g = gen(1)
  local x0 = tensor.randn({3, 37}, {generator = g})
  local r = tensor.randn({3, 37}, {generator = g})
  local w = tensor.randn({37}, {generator = g}) * 0.5 + 1
  local x = x0:clone()
  local y = F.add_rmsnorm_(x, r, w)            -- eps 1e-5
  -- the residual: x0 + r in f32, exactly as the elementwise add gives it
  local sum = flat(x0 + r)
  T.eq(flat(x), sum)
  near_all(flat(y), ref_norm(sum, flat(w), 37, 1e-5), 1e-6, 1e-5, "normed")
  T.eq(y:shape(), {3, 37})
  -- bit equality with the unfused ops
  local xu = x0:clone()
  xu:add_(r)
  T.eq(flat(y), flat(F.rmsnorm(xu, w, 1e-5)))
  -- an explicit eps
  local x2 = x0:clone()
  local y2 = F.add_rmsnorm_(x2, r, w, 0.5)
  near_all(flat(y2), ref_norm(sum, flat(w), 37, 0.5), 1e-6, 1e-5, "eps 0.5")
end)

T.case("add_rmsnorm_: bf16 (B, T, C) with a transposed r", function()
  local g = gen(2)
  local x0 = tensor.randn({2, 3, 576}, {generator = g}):to("bf16")
  local r = tensor.randn({2, 576, 3}, {generator = g}):to("bf16"):transpose(2, 3)
  local w = (tensor.randn({576}, {generator = g}) * 0.5 + 1):to("bf16")
  local x, xu = x0:clone(), x0:clone()
  local y = F.add_rmsnorm_(x, r, w)
  xu:add_(r)
  T.eq(flat(x), flat(xu))
  T.eq(flat(y), flat(F.rmsnorm(xu, w, 1e-5)))
  T.eq(y:dtype(), "bf16")
  near_all(flat(y), ref_norm(flat(xu), flat(w), 576, 1e-5), 1e-6, 1 / 128, "bf16 normed")
end)

T.case("swiglu_packed equals swiglu on the two halves", function()
  local g = gen(3)
  for _, dt in ipairs({"f32", "bf16", "f16", "f64"}) do
    local gu = (tensor.randn({4, 2 * 37}, {generator = g}) * 3):to(dt)
    local y = F.swiglu_packed(gu)
    T.eq(y:shape(), {4, 37})
    T.eq(flat(y), flat(F.swiglu(gu:narrow(2, 1, 37), gu:narrow(2, 38, 37))), dt .. ": same bits as swiglu")
    local v, want = flat(gu), {}
    for i = 0, 3 do
      for j = 1, 37 do
        local a, u = v[i * 74 + j], v[i * 74 + 37 + j]
        want[i * 37 + j] = a / (1 + math.exp(-a)) * u
      end
    end
    local rtol = ({f32 = 1e-5, f64 = 1e-12, f16 = 1 / 1024, bf16 = 1 / 128})[dt]
    near_all(flat(y), want, 1e-6, rtol, dt .. " reference")
  end
  -- SmolLM2's MLP width, 3-D
  local gu = tensor.randn({1, 2, 2 * 1536}, {generator = g})
  local y = F.swiglu_packed(gu)
  T.eq(y:shape(), {1, 2, 1536})
  T.eq(flat(y), flat(F.swiglu(gu:narrow(3, 1, 1536), gu:narrow(3, 1537, 1536))))
end)

T.case("errors name the argument; inference only unless under no_grad", function()
  local x, r, w = tensor.randn({2, 8}), tensor.randn({2, 8}), tensor.ones(8)
  T.raises("add_rmsnorm_: argument #4: expected eps (a number), got string", F.add_rmsnorm_, x, r, w, "x")
  T.raises("add_rmsnorm_: argument #2: expected shape (2, 8), got (2, 7)", F.add_rmsnorm_, x, tensor.zeros(2, 7), w)
  T.raises("add_rmsnorm_: argument #3: expected shape (8), got (7)", F.add_rmsnorm_, x, r, tensor.ones(7))
  T.raises("add_rmsnorm_: argument #1: expected a contiguous tensor", F.add_rmsnorm_, tensor.randn({8, 2}):t(), r, w)
  T.raises("add_rmsnorm_: argument #1 is f32 but argument #2 is f64", F.add_rmsnorm_, x, r:to("f64"), w)
  T.raises("swiglu_packed: argument #1: expected shape (*, 2F) with an even last dim, got (2, 7)",
           F.swiglu_packed, tensor.zeros(2, 7))
  local before = flat(x)
  w:requires_grad(true)
  T.raises("add_rmsnorm_: argument #3 requires grad, but add_rmsnorm_ is inference-only", F.add_rmsnorm_, x, r, w)
  T.eq(flat(x), before, "x unchanged by the failed call")
  local y = recx.no_grad(F.add_rmsnorm_, x, r, w)
  T.ok(not y:requires_grad(), "no graph recorded")
  local gu = tensor.randn({2, 8}):requires_grad(true)
  T.raises("swiglu_packed: argument #1 requires grad", F.swiglu_packed, gu)
  T.eq(recx.no_grad(F.swiglu_packed, gu):shape(), {2, 4})
end)

T.done()
