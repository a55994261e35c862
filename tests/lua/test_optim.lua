-- test_optim.lua — AdamW and SGD against updates computed here by hand (plain Lua doubles),
-- parameter groups, skipped parameters, zero_grad, state_dict round trips, clip_grad_norm,
-- param_groups by name and gradient accumulation.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local optim = recx.optim
local Module = require "recx.nn.module"

local function f64(v) return tensor.from(v, {dtype = "f64"}) end

-- Hand AdamW (torch.optim.AdamW): p <- p - lr wd p; m, v moments; bias-corrected step.
local function adamw_ref(p, grads, o)
  p = {table.unpack(p)}
  local m, v = {}, {}
  for i = 1, #p do m[i], v[i] = 0, 0 end
  for t, g in ipairs(grads) do
    for i = 1, #p do
      p[i] = p[i] - o.lr * o.wd * p[i]
      m[i] = o.b1 * m[i] + (1 - o.b1) * g[i]
      v[i] = o.b2 * v[i] + (1 - o.b2) * g[i] * g[i]
      local mhat = m[i] / (1 - o.b1 ^ t)
      local vhat = v[i] / (1 - o.b2 ^ t)
      p[i] = p[i] - o.lr * mhat / (math.sqrt(vhat) + o.eps)
    end
  end
  return p, m, v
end

-- Hand SGD (torch.optim.SGD).
local function sgd_ref(p, grads, o)
  p = {table.unpack(p)}
  local buf = {}
  for t, g0 in ipairs(grads) do
    for i = 1, #p do
      local g = g0[i] + o.wd * p[i]
      if o.momentum ~= 0 then
        if t == 1 then buf[i] = g else buf[i] = o.momentum * buf[i] + (1 - o.dampening) * g end
        if o.nesterov then g = g + o.momentum * buf[i] else g = buf[i] end
      end
      p[i] = p[i] - o.lr * g
    end
  end
  return p
end

local grads_seq = {{0.5, -1, 2}, {0.1, 0.3, -0.7}, {-2, 0.05, 1}, {1, 1, 1}}

T.case("AdamW matches the hand-computed update over 4 steps (f64 and f32 params)", function()
  for _, dt in ipairs({"f64", "f32"}) do
    local p0 = {1.0, -0.5, 2.0}
    local p = tensor.from(p0, {dtype = dt}):requires_grad(true)
    local opt = optim.adamw({p}, {lr = 0.1, betas = {0.8, 0.95}, eps = 1e-6, weight_decay = 0.05})
    for _, g in ipairs(grads_seq) do
      p:set_grad(tensor.from(g, {dtype = dt}))
      opt:step()
    end
    local want, m, v = adamw_ref(p0, grads_seq, {lr = 0.1, b1 = 0.8, b2 = 0.95, eps = 1e-6, wd = 0.05})
    T.near(p:tolist(), want, dt == "f64" and 1e-6 or 1e-5, dt .. " params")
    local st = opt.state[p]
    T.eq(st.step, 4)
    T.eq(st.exp_avg:dtype(), "f32", "moments are f32")
    T.near(st.exp_avg:tolist(), m, 1e-6)
    T.near(st.exp_avg_sq:tolist(), v, 1e-6)
    T.eq(p:requires_grad(), true, "still a parameter")
    T.eq(p:is_leaf(), true)
  end
end)

T.case("AdamW defaults are torch's (lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0.01)", function()
  local p = f64({3.0}):requires_grad(true)
  local opt = optim.adamw({p})
  local g = opt.param_groups[1]
  T.eq({g.lr, g.beta1, g.beta2, g.eps, g.weight_decay}, {1e-3, 0.9, 0.999, 1e-8, 0.01})
  p:set_grad(f64({0.2}))
  opt:step()
  T.near(p:tolist(), adamw_ref({3.0}, {{0.2}}, {lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.01}), 1e-9)
end)

T.case("parameters without a gradient are skipped; groups have their own options", function()
  local a = f64({1, 2, 3}):requires_grad(true)
  local b = f64({-1, 0, 1}):requires_grad(true)
  local c = f64({5, 5, 5}):requires_grad(true)
  local opt = optim.adamw({{params = {a}, lr = 0.2, weight_decay = 0}, {params = {b, c}}}, {lr = 0.05, weight_decay = 0.1})
  T.eq(opt.param_groups[1].lr, 0.2)
  T.eq(opt.param_groups[2].lr, 0.05, "group falls back to opts")
  T.eq(opt.param_groups[2].weight_decay, 0.1)
  a:set_grad(f64(grads_seq[1]))
  b:set_grad(f64(grads_seq[1]))
  opt:step() -- c has no grad
  T.near(c:tolist(), {5, 5, 5}, 0, "untouched")
  T.eq(opt.state[c], nil, "no state for c")
  c:set_grad(f64(grads_seq[2]))
  b:set_grad(f64(grads_seq[2]))
  a:set_grad(nil)
  opt:step() -- b at step 2, c at step 1: two batches
  T.eq(opt.state[b].step, 2)
  T.eq(opt.state[c].step, 1)
  T.near(a:tolist(), adamw_ref({1, 2, 3}, {grads_seq[1]}, {lr = 0.2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0}), 1e-7)
  T.near(b:tolist(), adamw_ref({-1, 0, 1}, {grads_seq[1], grads_seq[2]}, {lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1}), 1e-7)
  T.near(c:tolist(), adamw_ref({5, 5, 5}, {grads_seq[2]}, {lr = 0.05, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1}), 1e-7)
  T.eq(opt:get_lr(), {0.2, 0.05})
end)

T.case("SGD variants match the hand-computed update", function()
  local variants = {
    {lr = 0.1, momentum = 0, dampening = 0, wd = 0, nesterov = false},
    {lr = 0.1, momentum = 0.9, dampening = 0, wd = 0, nesterov = false},
    {lr = 0.05, momentum = 0.9, dampening = 0.5, wd = 0.01, nesterov = false},
    {lr = 0.05, momentum = 0.8, dampening = 0, wd = 0.1, nesterov = true},
  }
  for vi, o in ipairs(variants) do
    local p0 = {1.0, -0.5, 2.0}
    local p = f64(p0):requires_grad(true)
    local opt = optim.sgd({p}, {lr = o.lr, momentum = o.momentum, dampening = o.dampening, weight_decay = o.wd,
      nesterov = o.nesterov})
    for _, g in ipairs(grads_seq) do
      p:set_grad(f64(g))
      opt:step()
    end
    T.near(p:tolist(), sgd_ref(p0, grads_seq, o), 1e-6, "variant " .. vi)
    T.eq(opt.state[p].momentum_buffer ~= nil, o.momentum ~= 0, "variant " .. vi .. " buffer")
  end
  T.raises("nesterov needs momentum > 0 and dampening 0", optim.sgd, {f64({1}):requires_grad(true)}, {nesterov = true})
end)

T.case("zero_grad sets gradients to nil", function()
  local p = f64({1, 2}):requires_grad(true)
  local opt = optim.sgd({p}, {lr = 1})
  p:set_grad(f64({1, 1}))
  opt:zero_grad()
  T.eq(p:grad(), nil)
end)

T.case("state_dict round trip continues identically", function()
  local function make()
    local p = f64({1, 2, 3}):requires_grad(true)
    local q = f64({{1, 0}, {0, 1}}):requires_grad(true)
    return p, q
  end
  local p1, q1 = make()
  local opt1 = optim.adamw({p1, q1}, {lr = 0.1})
  for i = 1, 2 do
    p1:set_grad(f64(grads_seq[i]))
    q1:set_grad(f64({{i, -i}, {0.5, 1}}))
    opt1:step()
  end
  local sd = opt1:state_dict()
  T.eq(sd.kind, "adamw")
  T.eq(sd.param_groups[1].params, {1, 2})
  T.eq(sd.state[1].step, 2)
  local p2, q2 = make()
  recx.no_grad(function() p2:copy_(p1); q2:copy_(q1) end)
  local opt2 = optim.adamw({p2, q2}, {lr = 0.5})
  opt2:load_state_dict(sd)
  T.eq(opt2.param_groups[1].lr, 0.1, "hyper-parameters restored")
  T.ok(not opt2.state[p2].exp_avg:shares_storage(opt1.state[p1].exp_avg), "the state is copied")
  for _, pair in ipairs({{p1, q1}, {p2, q2}}) do
    pair[1]:set_grad(f64(grads_seq[3]))
    pair[2]:set_grad(f64({{3, 3}, {-1, 2}}))
  end
  opt1:step()
  opt2:step()
  T.eq(p2:tolist(), p1:tolist(), "bit-identical")
  T.eq(q2:tolist(), q1:tolist(), "bit-identical")
  T.eq(opt2.state[p2].step, 3)
  -- errors
  local sgd = optim.sgd({p2, q2}, {lr = 1})
  T.raises("the state is of kind 'adamw', this optimizer is 'sgd'", sgd.load_state_dict, sgd, sd)
  local r = f64({1, 2}):requires_grad(true)
  local opt3 = optim.adamw({r, q2})
  T.raises("exp_avg has shape (3), the parameter (2)", opt3.load_state_dict, opt3, sd)
  local opt4 = optim.adamw({p2})
  T.raises("group 1 has 2 parameters in the state, 1 in this optimizer", opt4.load_state_dict, opt4, sd)
end)

T.case("option errors", function()
  local p = f64({1}):requires_grad(true)
  T.raises("unknown option 'learning_rate'", optim.adamw, {p}, {learning_rate = 1})
  T.raises("parameter 1 appears twice", optim.adamw, {{params = {p}}, {params = {p}}})
  T.raises("parameter 2 is a number", optim.sgd, {p, 3})
  T.raises("group 1: unknown option 'momentum'", optim.adamw, {{params = {p}, momentum = 0.9}})
end)

T.case("clip_grad_norm: global norm, scaling, no-op below the bound", function()
  local a = f64({1, 2}):requires_grad(true)
  local b = f64({1}):requires_grad(true)
  local c = f64({1}):requires_grad(true) -- no gradient: ignored
  a:set_grad(f64({3, 4}))
  b:set_grad(f64({12}))
  local n = optim.clip_grad_norm({a, b, c}, 100)
  T.near(n, 13, 1e-12, "sqrt(9 + 16 + 144)")
  T.eq(a:grad():tolist(), {3.0, 4.0}, "unchanged below max_norm")
  n = optim.clip_grad_norm({a, b, c}, 6.5)
  T.near(n, 13, 1e-12, "norm before clipping")
  local s = 6.5 / (13 + 1e-6)
  T.near(a:grad():tolist(), {3 * s, 4 * s}, 1e-12)
  T.near(b:grad():tolist(), {12 * s}, 1e-12)
  T.near(optim.clip_grad_norm({a, b}, 100), 6.5, 1e-6, "the new norm")
  T.eq(optim.clip_grad_norm({c}, 1), 0.0, "no gradients")
  T.raises("expected a positive max_norm", optim.clip_grad_norm, {a}, 0)
end)

T.case("param_groups splits by name", function()
  local Net = Module:extend("Net")
  function Net:init()
    local Lin = Module:extend("Lin")
    function Lin:init()
      self:register_parameter("weight", tensor.zeros(2, 2))
      self:register_parameter("bias", tensor.zeros(2))
    end
    self:add_module("fc", Lin())
    local Norm = Module:extend("Norm")
    function Norm:init() self:register_parameter("weight", tensor.ones(2)) end
    self:add_module("final_norm", Norm())
    self:register_parameter("scale", tensor.ones(1))
  end
  local net = Net()
  local groups = optim.param_groups(net, {weight_decay = 0.1})
  T.eq(#groups, 2)
  T.eq(#groups[1].params, 2, "decayed: scale, fc.weight")
  T.ok(rawequal(groups[1].params[1], net.scale) and rawequal(groups[1].params[2], net.fc.weight), "order kept")
  T.eq(groups[1].weight_decay, 0.1)
  T.eq(#groups[2].params, 2, "not decayed: fc.bias, final_norm.weight")
  T.eq(groups[2].weight_decay, 0)
  local opt = optim.adamw(groups, {lr = 1e-2, weight_decay = 0.5})
  T.eq(opt.param_groups[1].weight_decay, 0.1)
  T.eq(opt.param_groups[2].weight_decay, 0)
  local only = optim.param_groups(net, {no_decay = {"nothing"}})
  T.eq(#only, 1)
  T.eq(only[1].weight_decay, nil, "takes the optimizer's")
end)

T.case("accumulate: k micro-batches make one step on the mean gradient", function()
  local p = f64({1, 2}):requires_grad(true)
  local opt = optim.sgd({p}, {lr = 1})
  local acc = optim.accumulate(opt, {steps = 2})
  local c1, c2, c3 = f64({1, 3}), f64({5, -1}), f64({2, 2})
  T.eq(acc:backward((p * c1):sum()), false, "first micro-batch: no step")
  T.near(p:tolist(), {1, 2}, 0)
  T.near(p:grad():tolist(), {0.5, 1.5}, 1e-12, "loss scaled by 1/2")
  T.eq(acc:backward((p * c2):sum()), true, "second: step")
  T.near(p:tolist(), {1 - 3, 2 - 1}, 1e-12, "p - mean(c1, c2)")
  T.eq(p:grad(), nil, "zero_grad after the step")
  acc:backward((p * c3):sum())
  T.eq(acc:state_dict().count, 1)
  T.eq(acc:flush(), true, "flush steps on the partial group")
  T.near(p:tolist(), {-2 - 2, 1 - 2}, 1e-12, "mean over the one micro-batch")
  T.eq(acc:flush(), false, "nothing left")
  T.eq(acc.optimizer_steps, 2)
end)

T.case("accumulate with clipping and a scheduler", function()
  local p = f64({0, 0}):requires_grad(true)
  local opt = optim.sgd({p}, {lr = 1})
  local sched = optim.schedules.linear(opt, {warmup_steps = 0, total_steps = 4})
  local acc = optim.accumulate(opt, {steps = 1, max_grad_norm = 1, scheduler = sched})
  local stepped, norm = acc:backward((p * f64({3, 4})):sum())
  T.eq(stepped, true)
  T.near(norm, 5, 1e-12)
  T.near(p:tolist(), {-0.6, -0.8}, 1e-6, "clipped to norm 1 and lr 1")
  T.near(opt.param_groups[1].lr, 0.75, 1e-15, "scheduler stepped")
  T.raises("unknown option 'step'", optim.accumulate, opt, {step = 2})
end)

T.case("recx.core.optim bindings: argument errors in Lua terms", function()
  local C = require("recx.core").optim
  local p = tensor.zeros(2):requires_grad(true)
  local g, m, v = tensor.ones(2), tensor.zeros(2), tensor.zeros(2)
  T.raises("adamw_step: argument #5: step: expected an integer step number (1-based), got 1.5", C.adamw_step,
    {p}, {g}, {m}, {v}, {lr = 1, step = 1.5})
  T.raises("adamw_step: argument #5: unknown option 'foo'", C.adamw_step, {p}, {g}, {m}, {v}, {lr = 1, step = 1, foo = 1})
  T.raises("adamw_step: argument #5: lr: expected a number, got nil", C.adamw_step, {p}, {g}, {m}, {v}, {step = 1})
  T.raises("adamw_step: argument #2: grads[1]: expected a tensor, got nil", C.adamw_step, {p}, {}, {m}, {v},
    {lr = 1, step = 1})
  T.raises("adamw_step: argument #3: expected 1 exp_avgs (one per parameter), got 2", C.adamw_step, {p}, {g}, {m, m},
    {v}, {lr = 1, step = 1})
  T.raises("expected f32 optimizer state, got f64", C.adamw_step, {p}, {g}, {m:to("f64")}, {v}, {lr = 1, step = 1})
  T.raises("sgd_step: argument #3: expected a list of momentum buffers (momentum is 0.9), got nil", C.sgd_step, {p},
    {g}, nil, {lr = 0.1, momentum = 0.9})
  T.raises("global_norm: argument #1: expected a list of tensors (tensors), got string", C.global_norm, "x")
  T.raises("scale_: argument #2: expected a number, got string", C.scale_, {g}, "a")
  local dead = tensor.ones(2)
  dead:release()
  T.raises("global_norm: argument #1: tensors[1]: tensor was released", C.global_norm, {dead})
  C.sgd_step({p}, {g}, {false}, {lr = 0.5})
  T.eq(p:tolist(), {-0.5, -0.5}, "false entries stand for no buffer")
  C.scale_({g, m}, 3)
  T.eq(g:tolist(), {3.0, 3.0})
  T.near(C.global_norm({tensor.from({3.0}), tensor.from({{4.0}})}), 5.0, 1e-12)
  T.ok(type(recx.clock()) == "number" and recx.clock() <= recx.clock(), "a monotonic clock")
end)

T.done()
