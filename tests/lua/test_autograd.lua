-- test_autograd.lua — autograd from Lua: requires_grad / grad / backward / detach / grad_fn,
-- accumulation, retain_graph, no_grad (also when its function raises), and the errors.
-- References are computed here in plain Lua doubles.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

local function leaf(values, dtype)
  return tensor.from(values, {dtype = dtype or "f64"}):requires_grad(true)
end

T.case("requires_grad getter and setter", function()
  local x = tensor.from({1, 2, 3})
  T.eq(x:requires_grad(), false)
  T.ok(rawequal(x:requires_grad(true), x), "the setter returns the tensor")
  T.eq(x:requires_grad(), true)
  T.eq(x:is_leaf(), true)
  T.eq(x:grad_fn(), nil)
  T.eq(x:grad(), nil)
  x:requires_grad(false)
  T.eq(x:requires_grad(), false)
  T.eq(tensor.requires_grad(x), false, "function form")
end)

T.case("grad of sum(x*x + 3x) is 2x + 3 (f64 and f32)", function()
  for _, dt in ipairs({"f64", "f32"}) do
    local xs = {-1.5, 0, 0.25, 2, 7}
    local x = leaf(xs, dt)
    local y = (x * x + 3 * x):sum()
    T.ok(y:requires_grad(), "the result requires grad")
    T.eq(y:is_leaf(), false)
    T.ok(type(y:grad_fn()) == "string" and y:grad_fn():find("Backward") ~= nil, "grad_fn is a node name")
    y:backward()
    local want = {}
    for i, v in ipairs(xs) do want[i] = 2 * v + 3 end
    T.near(x:grad():tolist(), want, 1e-6, dt)
    T.eq(x:grad():dtype(), dt)
  end
end)

T.case("gradients accumulate until cleared", function()
  local x = leaf({1, -2})
  for _ = 1, 3 do (x * x):sum():backward() end
  T.near(x:grad():tolist(), {6, -12}, 1e-12, "three backwards: 3 * 2x")
  x:set_grad(nil)
  T.eq(x:grad(), nil)
  local y = (x * 5):sum()
  y:backward()
  T.near(x:grad():tolist(), {5, 5}, 1e-12)
  x:set_grad(tensor.from({0.5, 0.5}, {dtype = "f64"}))
  T.near(x:grad():tolist(), {0.5, 0.5}, 0)
  T.raises("gradient has shape (3)", x.set_grad, x, tensor.zeros(3, {dtype = "f64"}))
  T.raises("gradient is f32", x.set_grad, x, tensor.zeros(2))
  T.raises("expected a tensor or nil", x.set_grad, x, 5)
end)

T.case("one leaf used twice and a diamond graph", function()
  local a = leaf({2, 3})
  local b = a * 2
  local c = a * a
  local y = (b * c):sum() -- 2 a^3 -> 6 a^2
  y:backward()
  T.near(a:grad():tolist(), {24, 54}, 1e-12)
end)

T.case("backward with an explicit gradient; scalar rule", function()
  local x = leaf({1, 2, 3})
  local y = x * x
  T.raises("pass a gradient for a non-scalar root", y.backward, y)
  y:backward(tensor.from({1, 0, -1}, {dtype = "f64"}))
  T.near(x:grad():tolist(), {2, 0, -6}, 1e-12)
  T.raises("expected a gradient tensor, an options table or nil", y.backward, y, "x")
end)

T.case("backward twice without retain_graph is an error", function()
  local x = leaf({1, 2})
  local y = (x * x):sum()
  y:backward()
  T.raises("retain_graph", y.backward, y)
  local z = (x * x):sum()
  x:set_grad(nil)
  z:backward({retain_graph = true})
  z:backward()
  T.near(x:grad():tolist(), {4, 8}, 1e-12, "both backwards accumulated")
  T.raises("unknown option 'retain'", z.backward, z, {retain = true})
end)

T.case("backward of a tensor that does not require grad", function()
  local x = tensor.from({1, 2})
  T.raises("does not require grad", function() (x * x):sum():backward() end)
end)

T.case("detach shares storage and stops the gradient", function()
  local x = leaf({3, -1})
  local d = x:detach()
  T.ok(d:shares_storage(x), "same storage")
  T.eq(d:requires_grad(), false)
  T.eq(d:is_leaf(), true)
  T.eq(d:grad_fn(), nil)
  local y = (x * x:detach()):sum() -- d/dx = x (not 2x)
  y:backward()
  T.near(x:grad():tolist(), {3, -1}, 1e-12)
  local z = x * 2
  local zd = z:detach()
  T.eq(zd:grad_fn(), nil)
  T.near(zd:tolist(), {6, -2}, 1e-12)
end)

T.case("requires_grad errors", function()
  T.raises("only floating-point tensors can require grad", function() tensor.from({1, 2}, {dtype = "i64"}):requires_grad(true) end)
  local x = leaf({1})
  local y = x * 2
  T.raises("not a leaf", y.requires_grad, y, false)
  T.raises("expected a boolean flag", x.requires_grad, x, 1)
end)

T.case("in-place writes to a tensor that requires grad", function()
  local x = leaf({1, 2})
  T.raises("in-place write would corrupt the gradient", x.add_, x, 1)
  recx.no_grad(function() x:add_(1) end)
  T.near(x:tolist(), {2, 3}, 0, "allowed under no_grad")
  local y = x * x -- saves x
  recx.no_grad(function() x:mul_(2) end)
  T.raises("modified in place", function() y:sum():backward() end)
end)

T.case("no_grad: mode off inside, results, restore, nesting", function()
  T.eq(recx.grad_enabled(), true)
  local x = leaf({1, 2})
  local a, b, c = recx.no_grad(function(u, v)
    T.eq(recx.grad_enabled(), false, "off inside")
    local y = x * x
    T.eq(y:requires_grad(), false, "nothing recorded")
    recx.no_grad(function() T.eq(recx.grad_enabled(), false) end)
    T.eq(recx.grad_enabled(), false, "nested call keeps it off")
    return u + v, y, nil
  end, 1, 2)
  T.eq(a, 3)
  T.eq(b:requires_grad(), false)
  T.eq(c, nil)
  T.eq(recx.grad_enabled(), true, "restored")
  T.eq(select("#", recx.no_grad(function() return 1, 2, 3 end)), 3, "all results")
end)

T.case("no_grad restores the mode when the function raises, and re-raises the same error", function()
  local err = {"a table error"}
  local ok, got = pcall(recx.no_grad, function() error(err) end)
  T.eq(ok, false)
  T.ok(rawequal(got, err), "the very error value")
  T.eq(recx.grad_enabled(), true)
  ok, got = pcall(recx.no_grad, function() local t = nil; return t.x end)
  T.eq(ok, false)
  T.ok(tostring(got):find("attempt to index") ~= nil, "runtime errors pass through: " .. tostring(got))
  T.eq(recx.grad_enabled(), true)
  recx.set_grad_enabled(false)
  pcall(recx.no_grad, function() error("x") end)
  T.eq(recx.grad_enabled(), false, "restores the previous mode, even when it was off")
  T.eq(recx.set_grad_enabled(true), false, "set_grad_enabled returns the previous mode")
  T.raises("expected a function", recx.no_grad, 42)
end)

T.case("gradient of a matmul: d sum(A B) / dA = 1 B^T", function()
  local A = tensor.from({{1, 2, 3}, {4, 5, 6}}, {dtype = "f64"}):requires_grad(true)
  local Bv = {{1, -1}, {0.5, 2}, {-3, 1}}
  local B = tensor.from(Bv, {dtype = "f64"}):requires_grad(true)
  A:matmul(B):sum():backward()
  local want = {}
  for i = 1, 2 do
    want[i] = {}
    for k = 1, 3 do want[i][k] = Bv[k][1] + Bv[k][2] end
  end
  T.near(A:grad():tolist(), want, 1e-12)
  -- dB[k][j] = sum_i A[i][k]
  T.near(B:grad():tolist(), {{5, 5}, {7, 7}, {9, 9}}, 1e-12)
end)

T.case("gradients through views and reductions", function()
  local x = tensor.from({{1, 2, 3}, {4, 5, 6}}, {dtype = "f64"}):requires_grad(true)
  local y = x:transpose(1, 2):narrow(1, 2, 2):mean() -- mean of columns 2..3 of x
  y:backward()
  T.near(x:grad():tolist(), {{0, 0.25, 0.25}, {0, 0.25, 0.25}}, 1e-12)
end)

T.done()
