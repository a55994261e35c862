-- test_checkpoint.lua — recx.checkpoint: the exact JSON state encoding, the file layout,
-- save / load / resume of model, optimizer, scheduler and generators, the errors (naming the
-- file and the key), and keep_last rotation.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local nn = recx.nn
local checkpoint = recx.checkpoint

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function bits_equal(a, b)
  if type(a) == "number" and type(b) == "number" then
    if a ~= a then return b ~= b end
    return a == b and math.type(a) == math.type(b) and (a ~= 0 or 1 / a == 1 / b)
  end
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  for k, v in pairs(a) do
    if not bits_equal(v, b[k]) then return false end
  end
  for k in pairs(b) do
    if a[k] == nil then return false end
  end
  return true
end

T.case("state JSON round-trips numbers and strings exactly", function()
  local state = {
    floats = {0.1, 1 / 3, 1e300, -2.5e-310, 1.0, 0.0, 3.0e15, math.pi, 2 ^ -1074},
    ints = {0, -7, 2 ^ 53 | 0, math.maxinteger, math.mininteger, 99999999999999},
    special = {math.huge, -math.huge},
    strings = {"plain", "#i:5", "#", "", "#f:1"},
    nested = {a = {b = {c = true}}, flag = false, empty = {}},
  }
  local text = checkpoint.encode_state(state)
  local back = checkpoint.decode_state(text)
  T.ok(bits_equal(back, state), "every value with its subtype: " .. text)
  T.eq(math.type(back.floats[5]), "float", "1.0 stays a float")
  T.eq(math.type(back.ints[1]), "integer", "0 stays an integer")
  local nan = checkpoint.decode_state(checkpoint.encode_state({x = 0 / 0})).x
  T.ok(nan ~= nan, "nan")
  T.ok(text:find('"plain"', 1, true) and text:find("0.1", 1, true), "readable where exact")
  T.raises("state.bad: a function cannot be stored", checkpoint.encode_state, {bad = print})
  T.raises("keys must be strings", checkpoint.encode_state, {t = {[1] = 1, [3] = 3}})
end)

local function make(seed)
  local g = tensor.generator(seed)
  local m = nn.Sequential(nn.Linear(3, 4, {generator = g}), nn.Tanh(), nn.Linear(4, 2, {generator = g}))
  local opt = recx.optim.adamw(recx.optim.param_groups(m), {lr = 1e-2})
  local sched = recx.optim.schedules.reduce_lr_on_plateau(opt, {patience = 0, factor = 0.5})
  return m, opt, sched
end

local function train_steps(m, opt, sched, g, n)
  for _ = 1, n do
    local x = tensor.randn({5, 3}, {generator = g})
    local loss = m(x):square():mean()
    loss:backward()
    opt:step()
    opt:zero_grad()
    sched:step(loss:item())
  end
end

T.case("save / load: layout, metadata and values", function()
  local m, opt, sched = make(1)
  local g = tensor.generator(42)
  train_steps(m, opt, sched, g, 3)
  local path = dir .. "/a.safetensors"
  checkpoint.save(path, {model = m, optimizer = opt, scheduler = sched, step = 3, rng = g,
    config = {lr = 1e-2, name = "toy"}, extra = {best = 0.25}})
  local f = recx.safetensors.open(path)
  local names = f:names()
  T.eq(names[1], "model.0.bias", "tensors sorted by name")
  local set = {}
  for _, n in ipairs(names) do set[n] = true end
  T.ok(set["model.2.weight"] and set["optim.0.exp_avg"] and set["optim.3.exp_avg_sq"], "model.* and optim.<i>.*")
  T.eq(#names, 4 + 4 * 2)
  local state = checkpoint.decode_state(f:metadata("recx.state"))
  T.eq(state.format, "recx.checkpoint")
  T.eq(state.version, 1)
  T.eq(state.step, 3)
  T.eq(state.optimizer.kind, "adamw")
  T.eq(state.optimizer.state["0"].step, 3)
  T.eq(state.scheduler.kind, "reduce_lr_on_plateau")
  T.eq(state.rng, g:state())
  f:close()
  local ck = checkpoint.load(path)
  T.eq(ck.step, 3)
  T.eq(ck.config, {lr = 1e-2, name = "toy"})
  T.eq(ck.extra, {best = 0.25})
  T.eq(ck.model["0.weight"]:tolist(), m[1].weight:tolist())
  T.eq(ck.optimizer.state[1].exp_avg:tolist(), opt.state[m[1].weight].exp_avg:tolist())
  T.eq(ck.optimizer.state[1].step, 3)
end)

T.case("resume restores model, optimizer, scheduler and generator", function()
  local m, opt, sched = make(1)
  local g = tensor.generator(42)
  train_steps(m, opt, sched, g, 4)
  local path = dir .. "/b.safetensors"
  checkpoint.save(path, {model = m, optimizer = opt, scheduler = sched, step = 4, rng = g})
  local m2, opt2, sched2 = make(2)
  local g2 = tensor.generator(0)
  local step = checkpoint.resume(path, {model = m2, optimizer = opt2, scheduler = sched2, rng = g2})
  T.eq(step, 4)
  T.eq(g2:state(), g:state())
  T.eq(opt2:get_lr(), opt:get_lr())
  T.eq(sched2:state_dict(), sched:state_dict())
  for name, t in pairs(m:state_dict()) do T.eq(m2:state_dict()[name]:tolist(), t:tolist(), name) end
  train_steps(m, opt, sched, g, 3)
  train_steps(m2, opt2, sched2, g2, 3)
  for name, t in pairs(m:state_dict()) do T.eq(m2:state_dict()[name]:tolist(), t:tolist(), "after 3 more: " .. name) end
  T.eq(m2[1].weight:requires_grad(), true)
end)

T.case("errors name the file and the key", function()
  local m, opt = make(1)
  local path = dir .. "/c.safetensors"
  checkpoint.save(path, {model = m, step = 1})
  local bigger = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2), nn.Linear(2, 2))
  T.raises(path .. ': model: load_state_dict: missing keys: "3.bias", "3.weight"', checkpoint.resume, path,
    {model = bigger})
  local wider = nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2))
  T.raises(path .. ': model: load_state_dict: "0.bias": expected shape (5), got (4)', checkpoint.resume, path,
    {model = wider})
  T.raises(path .. ": has no optimizer state", checkpoint.resume, path, {model = m, optimizer = opt})
  T.raises(path .. ": has no rng state", checkpoint.resume, path, {rng = tensor.generator(1)})
  local plain = dir .. "/plain.safetensors"
  recx.safetensors.save(plain, {w = tensor.zeros(2)})
  T.raises(plain .. ': not a recx checkpoint (no "recx.state" metadata)', checkpoint.load, plain)
  T.raises(dir .. "/missing.safetensors", checkpoint.load, dir .. "/missing.safetensors")
  T.raises("unknown field 'models'", checkpoint.save, path, {models = m})
  local sgd = recx.optim.sgd(m:parameters(), {lr = 1})
  checkpoint.save(path, {model = m, optimizer = opt})
  T.raises(path .. ": optimizer: sgd:load_state_dict: the state is of kind 'adamw', this optimizer is 'sgd'",
    checkpoint.resume, path, {optimizer = sgd})
  local ok = pcall(checkpoint.resume, path, {model = bigger, strict = false})
  T.ok(ok, "strict = false loads what matches")
end)

T.case("save_rotating keeps the last N and latest() finds the newest", function()
  local m = make(1)
  local rdir = dir .. "/rot"
  os.execute("mkdir -p " .. rdir)
  T.eq(checkpoint.latest(rdir), nil)
  local paths = {}
  for step = 10, 50, 10 do paths[#paths + 1] = checkpoint.save_rotating(rdir, step, {model = m, step = step}, {keep_last = 2}) end
  T.eq(paths[5], rdir .. "/ckpt-00000050.safetensors")
  T.eq(checkpoint.latest(rdir), paths[5])
  for i, p in ipairs(paths) do
    local f = io.open(p, "rb")
    T.eq(f ~= nil, i >= 4, p .. (i >= 4 and " kept" or " removed"))
    if f then f:close() end
  end
  T.eq(checkpoint.load(checkpoint.latest(rdir)).step, 50)
  os.remove(paths[5])
  T.eq(checkpoint.latest(rdir), paths[4], "falls back to the newest existing one")
end)

T.case("recx.safetensors: save orders, open / get / metadata / close, errors", function()
  local st = recx.safetensors
  local p = dir .. "/st.safetensors"
  local a, b = tensor.from({{1, 2}, {3, 4}}), tensor.arange(3)
  st.save(p, {zeta = a, alpha = b, mid = tensor.from({true, false})}, {note = "hi", format = "pt"})
  local f = st.open(p)
  T.eq(f:names(), {"alpha", "mid", "zeta"}, "a map is written in name order")
  T.eq(#f, 3)
  T.eq(f:count(), 3)
  T.eq(f:get("zeta"):tolist(), a:tolist())
  T.eq(f:get("alpha"):dtype(), "i64")
  T.eq(f:get("mid"):tolist(), {true, false})
  T.eq(f:metadata(), {note = "hi", format = "pt"})
  T.eq(f:metadata("note"), "hi")
  T.eq(f:metadata("absent"), nil)
  local kept = f:get("zeta")
  f:close()
  f:close()
  T.eq(kept:tolist(), a:tolist(), "a tensor outlives the closed file")
  T.raises("names: argument #1: the safetensors file was closed", f.names, f)
  st.save(p, {{"z", a}, {"a", b:transpose(1, 1)}, {"t", a:t()}})
  local ts, md = st.load(p)
  local g = st.open(p)
  T.eq(g:names(), {"z", "a", "t"}, "a list keeps its order")
  g:close()
  T.eq(ts.t:tolist(), {{1.0, 3.0}, {2.0, 4.0}}, "non-contiguous views are written as their values")
  T.eq(md, {})
  T.raises("tensor 'nope'", function() local h <close> = st.open(p); h:get("nope") end)
  T.raises("save: argument #2: entry 1: expected {name, tensor}, got number", st.save, p, {1, 2})
  T.raises("save: argument #2: 'a': expected a tensor, got number", st.save, p, {a = 1})
  T.raises("save: argument #3: metadata: expected string keys and string values", st.save, p, {a = a}, {k = 1})
  T.raises("open: argument #1: expected a file path (a string), got no value", st.open)
  T.raises(dir .. "/absent.safetensors", st.open, dir .. "/absent.safetensors")
  local bad = dir .. "/bad.safetensors"
  local fh = io.open(bad, "wb")
  fh:write("\255\255\255\255\0\0\0\0{}")
  fh:close()
  T.raises(bad, st.open, bad)
end)

os.execute("rm -rf " .. dir)
T.done()
