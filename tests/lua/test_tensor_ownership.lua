-- test_tensor_ownership.lua — handles, release, <close>, views keeping storage alive, the GC.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

local function live() return recx.mem().live_tensors end
local function storages() return recx.mem().live_storages end

T.case("recx.mem reports the memory of tensors", function()
  collectgarbage()
  local m = recx.mem()
  for _, k in ipairs({"live_bytes", "peak_bytes", "live_tensors", "live_storages", "total_allocs"}) do
    T.eq(math.type(m[k]), "integer", k)
  end
  local before = recx.mem()
  local x = tensor.zeros(1000, {dtype = "f64"})
  local after = recx.mem()
  T.ok(after.live_bytes - before.live_bytes >= 8000, "8000 bytes more live")
  T.eq(after.live_tensors - before.live_tensors, 1)
  T.eq(after.live_storages - before.live_storages, 1)
  T.eq(after.total_allocs - before.total_allocs, 1)
  T.ok(after.peak_bytes >= after.live_bytes)
  x:release()
  T.eq(recx.mem().live_bytes, before.live_bytes, "released bytes are gone")
  T.eq(type(recx.mem("cuda")), "table", "accepts a device")
  T.eq(type(recx.mem("cuda").live_bytes), "number")
end)

T.case("<close> releases at scope end", function()
  local before = live()
  do
    local x <close> = tensor.ones(100)
    local y <close> = x:view(10, 10)
    T.eq(live(), before + 2)
  end
  T.eq(live(), before, "both released without a collection")
  -- also on an error leaving the scope
  local ok = pcall(function()
    local x <close> = tensor.ones(100)
    error("boom")
  end)
  T.ok(not ok)
  T.eq(live(), before, "released when an error leaves the scope")
end)

T.case("use after release raises, double release is harmless", function()
  local x = tensor.ones(3)
  x:release()
  T.ok(x:is_released())
  T.raises("tensor was released", x.numel, x)
  T.raises("add: argument #1: tensor was released", function() return x + 1 end)
  T.raises("add: argument #2: tensor was released", function() return 1 + x end)
  T.raises("matmul: argument #2: tensor was released", tensor.matmul, tensor.ones(3), x)
  T.raises("tostring: argument #1: tensor was released", tostring, x)
  x:release()
  getmetatable(x).__gc(x)
  getmetatable(x).__close(x)
  T.ok(true, "releasing again did not fail")
  local y <close> = tensor.ones(2)
  y:release() -- the <close> at the end of the case releases it once more, harmlessly
end)

T.case("a view keeps the storage alive after its base is released", function()
  collectgarbage()
  local s0, t0 = storages(), live()
  local base = tensor.arange(6, {dtype = "f32"})
  local v = base:narrow(1, 2, 3)
  T.eq(storages(), s0 + 1)
  base:release()
  T.eq(live(), t0 + 1, "the base header is gone")
  T.eq(storages(), s0 + 1, "the storage lives on")
  T.eq(v:tolist(), {1.0, 2.0, 3.0})
  v:fill_(7)
  do
    local total <close> = v:sum()
    T.eq(total:item(), 21.0)
  end
  v:release()
  T.eq(storages(), s0, "the last view frees the storage")
  T.eq(live(), t0)
end)

T.case("collectgarbage frees forgotten tensors", function()
  collectgarbage()
  local before = live()
  for _ = 1, 100 do local _ = tensor.zeros(10) end
  T.ok(live() > before, "not released yet")
  collectgarbage()
  collectgarbage()
  T.eq(live(), before, "the collector released them")
end)

T.case("GC pressure: big forgotten tensors do not pile up", function()
  collectgarbage()
  collectgarbage("stop") -- only the pressure accounting may collect now
  local base = recx.mem().live_bytes
  local worst = 0
  for _ = 1, 40 do
    local _ = tensor.zeros(4 * 1024 * 1024) -- 16 MiB, forgotten at once
    worst = math.max(worst, recx.mem().live_bytes - base)
  end
  collectgarbage("restart")
  T.ok(worst <= 128 * 1024 * 1024, string.format("live bytes stayed bounded (peak %.0f MiB over 640 MiB made)",
    worst / 2 ^ 20))
  collectgarbage()
end)

T.case("results of failed calls leak nothing", function()
  collectgarbage()
  collectgarbage()
  local before, bytes = live(), recx.mem().live_bytes
  local a = tensor.ones(2, 3)
  local b = tensor.ones(4, 5)
  local i = tensor.from({0, 1}, {dtype = "f32"}) -- wrong index dtype
  local bad = {
    function() return a:matmul(b) end,
    function() return a + b end,
    function() return a:add_(b) end,
    function() return a:narrow(3, 1, 1) end,
    function() return a:view(7) end,
    function() return tensor.where(a, a, 0) end,
    function() return a:index_select(1, i) end,
    function() return tensor.cat({a, b}, 1) end,
    function() return a:sum(5) end,
    function() return a:softmax(3) end,
    function() return tensor.from({{1, 2}, {3}}) end,
    function() return tensor.zeros(2, {dtype = "nope"}) end,
    function() return a:to("f64"):add(a) end,
    function() return a:exp():log():sqrt():matmul(b) end,
  }
  collectgarbage("stop") -- any leak must show in live_tensors, not be hidden by a collection
  local raised = 0
  for _ = 1, 1000 do
    for _, f in ipairs(bad) do
      if not pcall(f) then raised = raised + 1 end
    end
  end
  T.eq(raised, 1000 * #bad, "every call failed")
  collectgarbage("restart")
  collectgarbage()
  collectgarbage()
  T.eq(live(), before + 3, "only a, b and i are alive")
  a:release(); b:release(); i:release()
  T.eq(live(), before)
  T.eq(recx.mem().live_bytes, bytes)
end)

T.done()
