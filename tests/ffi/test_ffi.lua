-- test_ffi.lua — proves that recx.h is plain C that LuaJIT's FFI accepts and that librecx.so
-- works through it.
--
--   luajit tests/ffi/test_ffi.lua <path to recx.h> <path to librecx.so>
--
-- The header is passed to ffi.cdef unchanged except for its preprocessor lines and the
-- `extern "C" {` / `}` guard lines. Then, through the library alone: ones -> sum -> item,
-- dtype names, an error status with its message, and memory accounting returning to its start.
-- Prints "N passed, N failed"; exits 1 on any failure.
local ffi = require "ffi"

local header_path, lib_path = arg[1], arg[2]
if not header_path or not lib_path then
  io.stderr:write("usage: luajit test_ffi.lua <recx.h> <librecx.so>\n")
  os.exit(2)
end

local passed, failed = 0, 0
local function check(cond, what)
  if cond then
    passed = passed + 1
  else
    failed = failed + 1
    io.stderr:write("FAIL: " .. what .. "\n")
  end
end

local function finish()
  print(string.format("%d passed, %d failed", passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

-- ---- the header, as C declarations ----------------------------------------------------------
local f = assert(io.open(header_path, "r"))
local kept = {}
for line in f:lines() do
  local is_preprocessor = line:match("^%s*#") ~= nil
  local is_guard = line:match('^%s*extern%s+"C"%s*{%s*$') ~= nil or line:match("^%s*}%s*$") ~= nil
  -- a dropped line stays as an empty one, so ffi.cdef's "at line N" is the header's line N
  kept[#kept + 1] = (is_preprocessor or is_guard) and "" or line
end
f:close()
local decls = table.concat(kept, "\n")

local ok, err = pcall(ffi.cdef, decls)
check(ok, "ffi.cdef accepts recx.h: " .. tostring(err))
if not ok then finish() end

local okload, lib = pcall(ffi.load, lib_path)
check(okload, "ffi.load " .. lib_path .. ": " .. tostring(lib))
if not okload then finish() end

local function last_error() return ffi.string(lib.rx_last_error()) end

-- ---- library basics --------------------------------------------------------------------------
local version = ffi.string(lib.rx_version())
check(version:match("^%d+%.%d+%.%d+") ~= nil, "rx_version looks like x.y.z, got '" .. version .. "'")
check(ffi.string(lib.rx_status_name(lib.RX_ERR_SHAPE)) == "shape mismatch", "rx_status_name(RX_ERR_SHAPE)")

local stats = ffi.new("rx_mem_stats")
lib.rx_mem_get_stats(lib.RX_CPU, stats)
local start_tensors = tonumber(stats.live_tensors)
local start_bytes = tonumber(stats.live_bytes)

-- ---- ones((2, 3)) -> sum -> item ----------------------------------------------------------------
local cpu = lib.rx_cpu()
check(cpu.type == lib.RX_CPU and cpu.index == 0, "rx_cpu() is (RX_CPU, 0)")

local shape = ffi.new("int64_t[2]", 2, 3)
local out = ffi.new("rx_tensor *[1]")
local s = lib.rx_ones(2, shape, lib.RX_F32, cpu, out)
check(s == lib.RX_OK, "rx_ones: " .. last_error())
local ones = out[0]
check(ones ~= nil, "rx_ones gives a tensor")
check(lib.rx_tensor_ndim(ones) == 2, "ones has 2 dims")
check(lib.rx_tensor_size(ones, 0) == 2 and lib.rx_tensor_size(ones, -1) == 3, "ones has shape (2, 3)")
check(lib.rx_tensor_numel(ones) == 6, "ones has 6 elements")
check(lib.rx_tensor_dtype(ones) == lib.RX_F32, "ones is f32")
check(lib.rx_tensor_is_contiguous(ones) == 1, "ones is contiguous")
local data = ffi.cast("float *", lib.rx_tensor_data_ptr(ones))
local all_one = true
for i = 0, 5 do all_one = all_one and data[i] == 1.0 end
check(all_one, "ones' memory holds six 1.0f")

lib.rx_mem_get_stats(lib.RX_CPU, stats)
check(tonumber(stats.live_tensors) == start_tensors + 1, "live_tensors counts the new tensor")
check(tonumber(stats.live_bytes) >= start_bytes + 24, "live_bytes counts at least 24 new bytes")

local sum_out = ffi.new("rx_tensor *[1]")
s = lib.rx_reduce(lib.RX_SUM, ones, 0, nil, 0, sum_out)
check(s == lib.RX_OK, "rx_reduce(RX_SUM, all dims): " .. last_error())
local total = sum_out[0]
if s == lib.RX_OK then
  check(lib.rx_tensor_ndim(total) == 0, "a full sum is a 0-D tensor")
  local value = ffi.new("double[1]")
  s = lib.rx_tensor_item(total, value)
  check(s == lib.RX_OK, "rx_tensor_item: " .. last_error())
  check(value[0] == 6, "sum of ones((2, 3)) is 6, got " .. tostring(value[0]))
else
  check(total == nil, "a failed rx_reduce leaves *out NULL")
end

-- ---- dtype names -----------------------------------------------------------------------------
local names = { [lib.RX_F32] = "f32", [lib.RX_F16] = "f16", [lib.RX_BF16] = "bf16", [lib.RX_F64] = "f64",
                [lib.RX_I32] = "i32", [lib.RX_I64] = "i64", [lib.RX_U8] = "u8", [lib.RX_BOOL] = "bool" }
local dt = ffi.new("rx_dtype[1]")
for code, name in pairs(names) do
  check(ffi.string(lib.rx_dtype_name(code)) == name, "rx_dtype_name(" .. code .. ") == " .. name)
  s = lib.rx_dtype_from_name(name, dt)
  check(s == lib.RX_OK and dt[0] == code, "rx_dtype_from_name('" .. name .. "') round-trips")
end
s = lib.rx_dtype_from_name("bfloat16", dt)
check(s == lib.RX_OK and dt[0] == lib.RX_BF16, "rx_dtype_from_name accepts the torch name bfloat16")
check(lib.rx_dtype_size(lib.RX_BF16) == 2 and lib.rx_dtype_size(lib.RX_I64) == 8, "rx_dtype_size")
s = lib.rx_dtype_from_name("f33", dt)
check(s == lib.RX_ERR_ARG, "rx_dtype_from_name('f33') fails with RX_ERR_ARG")
check(last_error():find("unknown dtype 'f33'", 1, true) ~= nil, "message names the bad dtype: " .. last_error())

-- ---- errors: views with incompatible shapes --------------------------------------------------
lib.rx_clear_error()
check(last_error() == "", "rx_clear_error empties the message")
local bad = ffi.new("int64_t[1]", 4)
local view_out = ffi.new("rx_tensor *[1]")
s = lib.rx_view(ones, 1, bad, view_out)
check(s == lib.RX_ERR_SHAPE, "view (2, 3) as (4) fails with RX_ERR_SHAPE, got " .. tostring(s))
check(view_out[0] == nil, "a failed rx_view leaves *out NULL")
local msg = last_error()
check(msg:find("view:", 1, true) == 1 and msg:find("(4)", 1, true) and msg:find("(2, 3)", 1, true),
      "message names the op and both shapes: " .. msg)

local tr_out = ffi.new("rx_tensor *[1]")
s = lib.rx_transpose(ones, 0, 1, tr_out)
check(s == lib.RX_OK, "rx_transpose: " .. last_error())
local tr = tr_out[0]
check(lib.rx_tensor_shares_storage(tr, ones) == 1, "a transpose shares storage")
local flat = ffi.new("int64_t[1]", 6)
s = lib.rx_view(tr, 1, flat, view_out)
check(s == lib.RX_ERR_SHAPE, "view of a transposed (3, 2) as (6) fails with RX_ERR_SHAPE")
check(last_error():find("strides", 1, true) ~= nil, "message says the strides do not allow it: " .. last_error())
s = lib.rx_reshape(tr, 1, flat, view_out)
check(s == lib.RX_OK and lib.rx_tensor_shares_storage(view_out[0], ones) == 0,
      "reshape of the transposed tensor copies: " .. last_error())
lib.rx_tensor_release(view_out[0])

-- ---- release everything ----------------------------------------------------------------------
lib.rx_tensor_release(tr)
lib.rx_tensor_release(total)
lib.rx_tensor_release(ones)
lib.rx_tensor_release(nil)
lib.rx_mem_get_stats(lib.RX_CPU, stats)
check(tonumber(stats.live_tensors) == start_tensors,
      string.format("live_tensors back to %d, got %d", start_tensors, tonumber(stats.live_tensors)))
check(tonumber(stats.live_bytes) == start_bytes,
      string.format("live_bytes back to %d, got %d", start_bytes, tonumber(stats.live_bytes)))

finish()
