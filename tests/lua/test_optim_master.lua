-- test_optim_master.lua — AdamW with f32 master weights (master_weights = true) for bf16/f16
-- parameters: the master follows exactly the f32 AdamW trajectory given the same gradients, the
-- parameter is the master rounded to its dtype, f32 parameters are untouched by the option, and
-- the master travels through state_dict / load_state_dict.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor

-- gradient of (p_as_f32 * c):sum() is c; c holds bf16-exact values so every dtype sees the same
local function grads_for(step)
  local g = tensor.generator(100 + step)
  return tensor.randn({5, 7}, {generator = g}):to({dtype = "bf16"}):to({dtype = "f32"})
end

local function run(dtype, master, steps)
  local init = tensor.randn({5, 7}, {generator = tensor.generator(1)}):to({dtype = "bf16"})
  local p = init:to({dtype = dtype})
  p:requires_grad(true)
  local opt = recx.optim.adamw({p}, {lr = 3e-2, weight_decay = 0.1, master_weights = master})
  for s = 1, steps do
    local loss = (p:to({dtype = "f32"}) * grads_for(s)):sum()
    loss:backward()
    opt:step()
    opt:zero_grad()
  end
  return p, opt
end

T.case("bf16 master follows the f32 trajectory exactly", function()
  local ref = run("f32", false, 6)
  for _, dt in ipairs({"bf16", "f16"}) do
    local p, opt = run(dt, true, 6)
    local master = opt:state_dict().state[1].master
    T.eq(master:dtype(), "f32", dt .. " master dtype")
    T.eq((master - ref):abs():max():item(), 0, dt .. " master == f32 AdamW")
    T.eq((p:to({dtype = "f32"}) - master:to({dtype = dt}):to({dtype = "f32"})):abs():max():item(), 0,
      dt .. " parameter == master rounded")
  end
end)

T.case("without masters a bf16 parameter drifts from the f32 trajectory", function()
  local ref = run("f32", false, 6)
  local p = run("bf16", false, 6)
  T.ok((p:to({dtype = "f32"}) - ref):abs():max():item() > 0, "bf16 updates round every step")
end)

T.case("f32 parameters ignore the option", function()
  local a = run("f32", false, 4)
  local b, opt = run("f32", true, 4)
  T.eq((a - b):abs():max():item(), 0)
  T.eq(opt:state_dict().state[1].master, nil, "no master for f32")
end)

T.case("master survives state_dict / load_state_dict", function()
  local p, opt = run("bf16", true, 3)
  local sd = opt:state_dict()
  local q = p:detach():clone()
  q:requires_grad(true)
  local opt2 = recx.optim.adamw({q}, {lr = 3e-2, weight_decay = 0.1, master_weights = true})
  opt2:load_state_dict(sd)
  for _, o in ipairs({{opt, p}, {opt2, q}}) do
    local loss = (o[2]:to({dtype = "f32"}) * grads_for(4)):sum()
    loss:backward()
    o[1]:step()
    o[1]:zero_grad()
  end
  T.eq((p:to({dtype = "f32"}) - q:to({dtype = "f32"})):abs():max():item(), 0)
end)

T.done()
