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

return M
