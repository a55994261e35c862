-- test_checkpoint_atomic.lua — acceptance (5): checkpoints are written atomically; a save that
-- dies or fails leaves the previous checkpoint loadable and unchanged.
--
-- Kill simulation: a child recx process (this file with --child) saves a ~4 MB checkpoint over
-- the path under `ulimit -f 1024` (a file-size limit of 512 KiB or 1 MiB depending on the
-- shell's block unit), so the kernel kills it with SIGXFSZ in the middle of writing. Then:
-- the child died by a signal, its partial temporary file is there (the write really was under
-- way), and the checkpoint at the path still loads and equals the previous one. A few more
-- children are killed with SIGKILL at staggered moments; after each the path holds either the
-- old or the new checkpoint, complete. In-process failures (bad state, missing folder) leave
-- the file as it was too.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local nn = recx.nn
local checkpoint = recx.checkpoint

local function model(seed, width)
  local g = tensor.generator(seed)
  return nn.Sequential(nn.Linear(16, width, {generator = g}), nn.ReLU(), nn.Linear(width, 4, {generator = g}))
end

if arg[1] == "--child" then -- the big checkpoint: 344k parameters, with the moments ~4 MB
  local m = model(2, 16384)
  local opt = recx.optim.adamw(m:parameters())
  for _, p in ipairs(m:parameters()) do p:set_grad(tensor.ones(p:shape())) end
  opt:step()
  checkpoint.save(arg[2], {model = m, optimizer = opt, step = 2})
  os.exit(0)
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local path = dir .. "/run.safetensors"

local small = model(1, 8)
checkpoint.save(path, {model = small, step = 1, extra = {tag = "first"}})
local reference = {}
for name, t in pairs(small:state_dict()) do reference[name] = t:tolist() end

local function check_first(what)
  local ok, ck = pcall(checkpoint.load, path)
  T.ok(ok, what .. ": the checkpoint still loads: " .. tostring(not ok and ck or ""))
  if not ok then return end
  T.eq(ck.step, 1, what .. ": still the first checkpoint")
  T.eq(ck.extra.tag, "first")
  for name, v in pairs(reference) do T.eq(ck.model[name]:tolist(), v, what .. ": " .. name) end
  local fresh = model(9, 8)
  T.eq(checkpoint.resume(path, {model = fresh}), 1, what .. ": resume works")
end

local function list_dir()
  local p = io.popen("ls -a " .. dir)
  local names = {}
  for line in p:lines() do names[#names + 1] = line end
  p:close()
  return names
end

local function run_child(prefix)
  local cmd = string.format("%s %q %q --child %q 2>/dev/null", prefix, arg[-1], arg[0], path)
  local ok, how, code = os.execute(cmd)
  return ok, how, code
end

T.case("a save killed mid-write (SIGXFSZ) leaves the previous checkpoint intact", function()
  local ok, how, code = run_child("ulimit -f 1024; exec")
  T.ok(not ok, string.format("the child did not finish (%s %s)", tostring(how), tostring(code)))
  T.ok(how == "signal" or (how == "exit" and code > 128), "killed by a signal: " .. tostring(how) .. " " .. tostring(code))
  local partial
  for _, name in ipairs(list_dir()) do
    if name:find("^%.run%.safetensors%.tmp%-") then partial = name end
  end
  T.ok(partial ~= nil, "the interrupted temporary file is left behind")
  if partial then
    local f = io.open(dir .. "/" .. partial, "rb")
    local size = f:seek("end")
    f:close()
    T.ok(size > 0 and size < 4.2e6, "it holds a partial write: " .. size .. " bytes")
    os.remove(dir .. "/" .. partial)
  end
  check_first("after SIGXFSZ")
end)

T.case("in-process failures leave the file as it was", function()
  T.raises("state.extra.f: a function cannot be stored", checkpoint.save, path, {model = model(3, 8), extra = {f = print}})
  check_first("after a bad state")
  T.raises(dir .. "/nope/run.safetensors", checkpoint.save, dir .. "/nope/run.safetensors", {model = small})
  check_first("after a missing folder")
end)

T.case("SIGKILL at staggered moments: always one complete checkpoint", function()
  for i, delay in ipairs({"0.05", "0.15", "0.3"}) do
    run_child("timeout -s KILL " .. delay)
    local ok, ck = pcall(checkpoint.load, path)
    T.ok(ok, "attempt " .. i .. ": loads")
    if ok then
      T.ok(ck.step == 1 or ck.step == 2, "attempt " .. i .. ": the old or the new checkpoint, step " .. tostring(ck.step))
      if ck.step == 2 then
        T.eq(ck.model["0.weight"]:shape(), {16384, 16}, "the new one is whole")
        T.eq(ck.optimizer.state[1].step, 1)
      end
    end
    for _, name in ipairs(list_dir()) do
      if name:find("%.tmp%-") then os.remove(dir .. "/" .. name) end
    end
    if ok and ck.step == 2 then checkpoint.save(path, {model = small, step = 1, extra = {tag = "first"}}) end
  end
end)

os.execute("rm -rf " .. dir)
T.done()
