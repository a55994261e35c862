-- harness.lua — a tiny test harness for the Lua tests (run by `recx test_x.lua` from tests/lua).
--
-- Owns: named test cases that count their assertions, and the closing summary. Usage:
--   local T = require "harness"
--   T.case("views share storage", function() T.eq(x:tolist(), {1, 2}) end)
--   T.done()  -- prints "N passed, N failed" (assertions) and exits 1 on any failure
-- A case that raises counts as one failed assertion; the others in the file still run.

-- The recx executable points package.path at lua/; plain paths keep the tests runnable when
-- it does not (appended, so the executable's choice wins).
package.path = package.path .. ";../../lua/?.lua;../../lua/?/init.lua"

local T = {}

local passed, failed = 0, 0
local case_name = nil
local case_failed = 0

local function show(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) ~= "table" then return tostring(v) end
  local parts = {}
  for i = 1, #v do parts[i] = show(v[i]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end
T.show = show

local function where()
  local info = debug.getinfo(4, "Sl")
  return info and (info.short_src .. ":" .. info.currentline) or "?"
end

local function record(ok, message)
  if ok then
    passed = passed + 1
  else
    failed = failed + 1
    case_failed = case_failed + 1
    io.stderr:write(string.format("  FAIL [%s] %s: %s\n", case_name or "top level", where(), message))
  end
  return ok
end

-- Deep equality; numbers compare by value (tests that care check math.type themselves), with
-- `tol` (absolute plus relative) when given.
local function equal(a, b, tol)
  if type(a) == "number" and type(b) == "number" then
    if a ~= a and b ~= b then return true end -- both NaN
    if tol then return math.abs(a - b) <= tol * (1 + math.abs(b)) end
    return a == b -- 6 == 6.0: whole float values come back as integers (docs/lua-api.md)
  end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  if #a ~= #b then return false end
  for i = 1, #b do
    if not equal(a[i], b[i], tol) then return false end
  end
  return true
end

-- (each assertion calls record without a tail call, so `where` finds the test's line)
function T.ok(cond, message)
  local r = record(cond and true or false, message or "expected a true value")
  return r
end

-- Exact equality (numbers must also agree in integer/float subtype).
function T.eq(got, want, message)
  local r = record(equal(got, want), string.format("%sgot %s, want %s", message and (message .. ": ") or "",
    show(got), show(want)))
  return r
end

-- Numeric closeness (numbers or nested tables of numbers), default tolerance 1e-6.
function T.near(got, want, tol, message)
  tol = tol or 1e-6
  local r = record(equal(got, want, tol), string.format("%sgot %s, want %s (tol %g)",
    message and (message .. ": ") or "", show(got), show(want), tol))
  return r
end

-- Skips the whole test file: prints "SKIP <file>: <reason>" and exits 77, which ctest reports as
-- skipped (SKIP_RETURN_CODE). Call before any case when a needed input (a model, the shared
-- data) is absent.
function T.skip(reason)
  local info = debug.getinfo(2, "S")
  print(string.format("SKIP %s: %s", info and info.short_src or "?", reason))
  os.exit(77)
end

-- The folder of downloaded models: $RECX_MODELS, else <repository>/models.
function T.models_dir()
  return os.getenv("RECX_MODELS") or "../../models"
end

-- fn(...) must raise an error whose message contains `needle` (plain text).
function T.raises(needle, fn, ...)
  local ok, err = pcall(fn, ...)
  local r
  if ok then
    r = record(false, "expected an error containing " .. show(needle) .. ", got none")
  else
    err = tostring(err)
    r = record(string.find(err, needle, 1, true) ~= nil,
      string.format("error %s does not contain %s", show(err), show(needle)))
  end
  return r
end

function T.case(name, fn)
  case_name = name
  case_failed = 0
  local before = passed + failed
  local ok, err = xpcall(fn, debug.traceback)
  if not ok then
    failed = failed + 1
    case_failed = case_failed + 1
    io.stderr:write(string.format("  ERROR [%s]: %s\n", name, tostring(err)))
  end
  local count = passed + failed - before
  print(string.format("%s %s (%d assertions)", case_failed == 0 and "ok  " or "FAIL", name, count))
  case_name = nil
end

function T.done()
  print(string.format("%d passed, %d failed", passed, failed))
  if failed > 0 or passed == 0 then os.exit(1) end
end

return T
