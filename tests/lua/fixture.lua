-- fixture.lua — shared by the PyTorch fixture tests (test_fixture_*.lua): opening a fixture file
-- (or skipping the test with the reason when it is missing) and comparing tensors by relative
-- L2 error computed in plain Lua doubles, never with the recx ops under test.
local T = require "harness"
local recx = require "recx"

local M = {}

-- The tensors of the fixture at path (relative to tests/lua, where ctest runs), by name, and the
-- open file (keep it alive while the tensors are used). Exits 0 with a SKIP line when missing.
function M.load(test_name, path)
  local fh = io.open(path, "rb")
  if not fh then
    print("SKIP " .. test_name .. ": " .. path .. " is missing (write it with tests/fixtures/make_fixtures.py)")
    os.exit(0)
  end
  fh:close()
  local file = recx.safetensors.open(path)
  local fx = {}
  for _, name in ipairs(file:names()) do fx[name] = file:get(name) end
  return fx, file
end

-- The leaves of nested tables (tolist() output) in order.
local function flatten(v, out)
  out = out or {}
  if type(v) == "table" then
    for i = 1, #v do flatten(v[i], out) end
  else
    out[#out + 1] = v
  end
  return out
end
M.flatten = flatten

-- ||a - b||_2 / max(||b||_2, floor), over the flattened values of two tensors of one shape.
function M.rel_l2(a, b, floor)
  local x, y = flatten(a:tolist()), flatten(b:tolist())
  assert(#x == #y, "rel_l2: sizes differ")
  local num, den = 0.0, 0.0
  for i = 1, #x do
    num = num + (x[i] - y[i]) ^ 2
    den = den + y[i] ^ 2
  end
  return math.sqrt(num) / math.max(math.sqrt(den), floor or 0)
end

-- Records that got has want's shape and a relative L2 error <= tol; returns the error.
function M.check_close(what, got, want, tol, floor)
  T.eq(got:shape(), want:shape(), what .. ": shape")
  local err = M.rel_l2(got, want, floor)
  T.ok(err <= tol, string.format("%s: relative L2 error %.3g > %g", what, err, tol))
  return err
end

-- Records that every parameter p[name] (names in order) has a gradient within tol (relative L2,
-- floor) of the fixture's "grad.<name>"; returns the worst error and its name.
function M.check_grads(p, names, fx, tol, floor)
  local worst, worst_name = 0, "-"
  for _, name in ipairs(names) do
    local g = p[name]:grad()
    if T.ok(g ~= nil, "no gradient for " .. name) then
      local err = M.check_close("grad." .. name, g, fx["grad." .. name], tol, floor)
      if err > worst then worst, worst_name = err, name end
    end
  end
  return worst, worst_name
end

-- Runs len(fx.adamw_losses) AdamW steps on the parameters p[name] with opts, loss_fn() giving the
-- loss of the current parameters, and records that each step's loss is within a relative tol of
-- the fixture's; returns the worst relative error.
function M.check_adamw_losses(p, names, fx, opts, loss_fn, tol)
  local list = {}
  for i, name in ipairs(names) do list[i] = p[name] end
  local opt = recx.optim.adamw(list, opts)
  local want = fx.adamw_losses:tolist()
  local worst = 0
  for step = 1, #want do
    opt:zero_grad()
    local loss = loss_fn()
    local got = loss:item()
    local err = math.abs(got - want[step]) / math.abs(want[step])
    T.ok(err <= tol, string.format("step %d: loss %.9g, want %.9g (relative error %.3g)", step, got, want[step], err))
    worst = math.max(worst, err)
    loss:backward()
    opt:step()
  end
  return worst
end

return M
