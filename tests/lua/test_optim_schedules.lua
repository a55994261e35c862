-- test_optim_schedules.lua — learning-rate schedules: the lr sequences of constant, linear and
-- cosine against their closed forms (written out here, plus hand-picked values), and the
-- decisions of ReduceLROnPlateau on metric sequences worked out by hand; state round trips.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local optim = recx.optim
local S = optim.schedules

local function make_opt(lr, n_groups)
  local groups = {}
  for i = 1, n_groups or 1 do groups[i] = {params = {tensor.zeros(1):requires_grad(true)}, lr = lr * i} end
  return optim.sgd(groups, {lr = lr})
end

-- lrs seen by optimizer steps 0..n (the lr in effect when opt:step() runs at each step)
local function run(sched, opt, n)
  local out = {}
  for s = 0, n do
    out[#out + 1] = opt.param_groups[1].lr
    sched:step()
  end
  return out
end

T.case("constant with and without warmup", function()
  local opt = make_opt(0.5)
  T.eq(run(S.constant(opt), opt, 3), {0.5, 0.5, 0.5, 0.5})
  opt = make_opt(0.5)
  T.near(run(S.constant(opt, {warmup_steps = 4}), opt, 6), {0, 0.125, 0.25, 0.375, 0.5, 0.5, 0.5}, 1e-15)
end)

T.case("linear warmup then linear decay to 0 (HF get_linear_schedule_with_warmup)", function()
  local opt = make_opt(1.0)
  local got = run(S.linear(opt, {warmup_steps = 2, total_steps = 10}), opt, 12)
  -- by hand: 0, 1/2, then (10 - s) / 8 for s >= 2, clamped at 0
  T.near(got, {0, 0.5, 1, 7 / 8, 6 / 8, 5 / 8, 4 / 8, 3 / 8, 2 / 8, 1 / 8, 0, 0, 0}, 1e-15)
  local base, w, n = 3e-4, 7, 50
  opt = make_opt(base)
  got = run(S.linear(opt, {warmup_steps = w, total_steps = n}), opt, n + 2)
  for s = 0, n + 2 do
    local want = s < w and base * s / w or base * math.max(0, (n - s) / (n - w))
    T.near(got[s + 1], want, 1e-15, "step " .. s)
  end
end)

T.case("cosine after warmup (HF get_cosine_schedule_with_warmup)", function()
  local opt = make_opt(1.0)
  local got = run(S.cosine(opt, {warmup_steps = 2, total_steps = 10}), opt, 10)
  T.near(got[1], 0, 1e-15)
  T.near(got[2], 0.5, 1e-15)
  T.near(got[3], 1, 1e-15, "end of warmup")
  T.near(got[7], 0.5, 1e-15, "half way through the decay")
  T.near(got[11], 0, 1e-15, "end")
  T.near(got[5], 0.5 * (1 + math.cos(math.pi * 2 / 8)), 1e-15, "step 4")
  local base, w, n = 2e-3, 5, 40
  opt = make_opt(base)
  got = run(S.cosine(opt, {warmup_steps = w, total_steps = n, min_lr_ratio = 0.1}), opt, n)
  for s = 0, n do
    local want
    if s < w then
      want = base * s / w
    else
      local progress = (s - w) / (n - w)
      want = base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress)))
    end
    T.near(got[s + 1], want, 1e-14, "step " .. s)
  end
end)

T.case("schedules drive every group from its own base lr", function()
  local opt = make_opt(0.1, 2) -- group lrs 0.1 and 0.2
  local sched = S.linear(opt, {warmup_steps = 0, total_steps = 4})
  sched:step()
  T.near(sched:get_last_lr(), {0.075, 0.15}, 1e-15)
  T.eq(opt.param_groups[2].initial_lr, 0.2)
end)

T.case("step-driven schedule state round trip", function()
  local opt = make_opt(1.0)
  local sched = S.linear(opt, {warmup_steps = 2, total_steps = 10})
  for _ = 1, 5 do sched:step() end
  local sd = sched:state_dict()
  T.eq(sd.last_step, 5)
  local opt2 = make_opt(1.0)
  local sched2 = S.linear(opt2, {warmup_steps = 2, total_steps = 10})
  sched2:load_state_dict(sd)
  T.eq(opt2.param_groups[1].lr, opt.param_groups[1].lr, "the lr is re-applied")
  sched:step()
  sched2:step()
  T.eq(opt2.param_groups[1].lr, opt.param_groups[1].lr)
  local cos = S.cosine(make_opt(1.0), {total_steps = 10})
  T.raises("the state is of a linear schedule", cos.load_state_dict, cos, sd)
  T.raises("total_steps: expected an integer >= 1", S.linear, opt, {warmup_steps = 2})
  T.raises("unknown option 'warmup'", S.cosine, opt, {warmup = 2, total_steps = 3})
end)

T.case("ReduceLROnPlateau, min mode: patience, rel threshold, cooldown", function()
  local opt = make_opt(1.0)
  local p = S.reduce_lr_on_plateau(opt, {mode = "min", factor = 0.5, patience = 2, threshold = 0.1, cooldown = 1})
  -- best starts at +inf. Worked out by hand (improvement needs metric < best * 0.9):
  local metrics = {10, 9.5, 9.2, 9.1, 8.0, 8.0, 8.0, 8.0, 8.0, 8.0, 1.0}
  --   10   -> best 10, bad 0
  --   9.5  -> not < 9: bad 1;  9.2 -> bad 2;  9.1 -> bad 3 > 2: lr 0.5, cooldown 1, bad 0
  --   8.0  -> < 9: best 8, bad 0; cooldown 1 -> 0, bad 0
  --   8.0  -> bad 1; 8.0 -> bad 2; 8.0 -> bad 3: lr 0.25, cooldown 1
  --   8.0  -> bad 1, but cooldown: counter 0, bad 0
  --   8.0  -> bad 1;  1.0 -> best 1, bad 0
  local want_lr = {1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.25}
  local want_reduced = {false, false, false, true, false, false, false, true, false, false, false}
  for i, m in ipairs(metrics) do
    local reduced = p:step(m)
    T.eq(reduced, want_reduced[i], "step " .. i .. " decision")
    T.eq(opt.param_groups[1].lr, want_lr[i], "step " .. i .. " lr")
  end
  T.eq(p.best, 1.0)
end)

T.case("ReduceLROnPlateau, max mode, abs threshold, min_lr floor and eps", function()
  local opt = make_opt(0.1)
  local p = S.reduce_lr_on_plateau(opt, {mode = "max", factor = 0.1, patience = 0, threshold = 0.01,
    threshold_mode = "abs", min_lr = 0.005})
  -- patience 0: every non-improvement reduces. Improvement needs metric > best + 0.01.
  T.eq(p:step(0.50), false)            -- best 0.50
  T.eq(p:step(0.505), true)            -- not > 0.51: lr 0.1 -> 0.01
  T.near(opt.param_groups[1].lr, 0.01, 1e-15)
  T.eq(p:step(0.52), false)            -- best 0.52
  T.eq(p:step(0.52), true)             -- lr max(0.001, 0.005) = 0.005
  T.near(opt.param_groups[1].lr, 0.005, 1e-15)
  T.eq(p:step(0.1), false, "at min_lr: no change bigger than eps, no reduction reported")
  T.near(opt.param_groups[1].lr, 0.005, 1e-15)
end)

T.case("ReduceLROnPlateau state round trip and errors", function()
  local opt = make_opt(1.0)
  local p = S.reduce_lr_on_plateau(opt, {patience = 1, factor = 0.5})
  for _, m in ipairs({3, 3, 2.5}) do p:step(m) end
  local sd = p:state_dict()
  T.eq(sd.best, 2.5)
  T.eq(sd.last_step, 3)
  local opt2 = make_opt(1.0)
  local p2 = S.reduce_lr_on_plateau(opt2, {patience = 7})
  p2:load_state_dict(sd)
  T.eq(p2.patience, 1, "configuration restored as torch does")
  for _, m in ipairs({2.5, 2.5, 2.5}) do
    T.eq(p2:step(m), p:step(m))
  end
  T.eq(p2.num_bad, p.num_bad)
  T.raises("expected \"min\" or \"max\"", S.reduce_lr_on_plateau, opt, {mode = "up"})
  T.raises("expected the metric", p.step, p)
  T.raises("factor: expected a number in (0, 1)", S.reduce_lr_on_plateau, opt, {factor = 2})
end)

T.done()
