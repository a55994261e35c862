-- cuda_util.lua — shared by the GPU tests written in Lua (tests/gpu/test_*.lua, run from tests/lua):
-- the skip on a machine without a CUDA device (exit 77, which ctest reports as skipped) and
-- comparisons of tensors of any device on the host in f64.
local recx = require "recx"

local M = {}

-- Exits 77 ("skipped") unless a CUDA device is usable.
function M.require_device()
  if not recx.cuda.is_available() then
    print("skipped: no CUDA device")
    os.exit(77)
  end
end

function M.host(t) return t:to({device = "cpu", dtype = "f64"}) end
function M.maxdiff(a, b) return (M.host(a) - M.host(b)):abs():max():item() end
function M.maxabs(a) return M.host(a):abs():max():item() end

return M
