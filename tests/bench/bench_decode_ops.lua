-- bench_decode_ops.lua — the device time of each op of one SmolLM2-135M decode step, as a CUDA
-- graph replays it: every op is captured `reps` times in one graph (recx.cuda.graph), the graph is
-- replayed `replays` times between two synchronisations, and the time per op is the total over
-- reps * replays. This is where a decode step's time goes (issue #5); it needs a CUDA device.
--
--   recx tests/bench/bench_decode_ops.lua [batches=1,32] [cache=160] [reps=50] [replays=20] [json=PATH]
local recx = require "recx"
local cjson = require "cjson"
local F = recx.nn.functional
local tensor = recx.tensor

local cfg = recx.config {batches = "1,32", cache = 160, reps = 50, replays = 20, json = ""}
if not recx.cuda.is_available() then error("bench_decode_ops: needs a CUDA device", 0) end

local C, H, G, D, FF, V = 576, 9, 3, 64, 1536, 49152
local gen = tensor.generator(0)
local function randn(shape, dtype)
  return tensor.randn(shape, {generator = gen}):mul(0.02):to({dtype = dtype or "bf16", device = "cuda"})
end

-- Microseconds per call of fn (device time in a replayed graph).
local function time_op(fn)
  fn() -- eager once: loads the kernels
  local g = recx.cuda.graph(function()
    for _ = 1, cfg.reps do fn() end
  end)
  g:replay()
  recx.cuda.synchronize()
  local t0 = recx.clock()
  for _ = 1, cfg.replays do g:replay() end
  recx.cuda.synchronize()
  local us = (recx.clock() - t0) / (cfg.reps * cfg.replays) * 1e6
  g:release()
  return us
end

local rows = {}
for b in cfg.batches:gmatch("%d+") do
  local B = tonumber(b)
  local x = randn({B, 1, C})
  local w_norm = randn({C})
  local wq, wk, wo = randn({H * D, C}), randn({G * D, C}), randn({C, H * D})
  local wqkv = randn({(H + 2 * G) * D, C})
  local wup, wdown, whead = randn({FF, C}), randn({C, FF}), randn({V, C})
  local q = randn({B, H, 1, D})
  local kc, vc = randn({B, G, cfg.cache, D}), randn({B, G, cfg.cache, D})
  local kp = tensor.ones({B, cfg.cache}, {dtype = "bool", device = "cuda"})
  local slot = tensor.from({cfg.cache - 1}, {dtype = "i64"}):to("cuda")
  local k1 = randn({B, G, 1, D})
  local pos = tensor.full({B, 1}, 100, {dtype = "i64", device = "cuda"})
  local inv = F.rope_inv_freq(D, 100000.0):to("cuda")
  local cos, sin = F.rope_tables(pos, inv, "bf16")
  local up = randn({B, 1, FF})
  local ops = {
    {"rmsnorm (B,1,576)", function() return F.rmsnorm(x, w_norm, 1e-5) end},
    {"linear 576->576 (q, o)", function() return F.linear(x, wo) end},
    {"linear 576->192 (k, v)", function() return F.linear(x, wk) end},
    {"linear 576->960 (q,k,v stacked)", function() return F.linear(x, wqkv) end},
    {"linear 576->1536 (gate, up)", function() return F.linear(x, wup) end},
    {"linear 1536->576 (down)", function() return F.linear(up, wdown) end},
    {"linear 576->49152 (lm head)", function() return F.linear(x, whead) end},
    {"rope_tables", function() return F.rope_tables(pos, inv, "bf16") end},
    {"rope (B,9,1,64)", function() return F.rope(q, cos, sin) end},
    {"copy_at_ (B,3,1,64) into the cache", function() return kc:copy_at_(3, slot, k1) end},
    {"attention (B,9,1,64) over 160 slots", function() return F.attention(q, kc, vc, {key_padding = kp}) end},
    {"add (B,1,576)", function() return x + x end},
    {"swiglu (B,1,1536)", function() return F.swiglu(up, up) end},
    {"argmax (B,49152) f32", function() return whead:narrow(1, 1, B):to("f32"):argmax(2) end},
  }
  io.write(string.format("B = %d\n", B))
  for _, op in ipairs(ops) do
    local us = time_op(op[2])
    rows[#rows + 1] = {batch = B, op = op[1], us = us}
    io.write(string.format("  %-40s %8.2f us\n", op[1], us))
  end
end

local out = cfg.json ~= "" and cfg.json or ((os.getenv("OUT") or "out/bench") .. "/decode_ops.json")
os.execute("mkdir -p '" .. out:match("^(.*)/[^/]*$") .. "'")
local f = assert(io.open(out, "w"))
f:write(cjson.encode({meta = {recx = recx.version, date = os.date("!%Y-%m-%d %H:%M UTC"), reps = cfg.reps,
  replays = cfg.replays, cache = cfg.cache}, rows = rows}))
f:close()
io.stderr:write("wrote " .. out .. "\n")
