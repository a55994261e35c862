-- recx.optim.schedules — learning-rate schedules that drive an optimizer's group lrs.
--
-- Owns: the schedule factors (pure functions of the step, exported for tests and plots), the
-- step-driven schedulers built on them (constant, linear, cosine: each lr = base_lr * factor(step),
-- as torch's LambdaLR and Hugging Face's get_*_schedule_with_warmup), and ReduceLROnPlateau
-- (metric-driven, torch semantics). Every scheduler has step(), get_last_lr(), state_dict() and
-- load_state_dict() (plain numbers, for checkpoints).
--
-- Usage: construct after the optimizer (the constructor applies factor(0) at once, so a warmup
-- from 0 trains the first step with lr 0 exactly as Hugging Face does), then call
-- `opt:step(); sched:step()` each training step, or `sched:step(metric)` for the plateau one.
local S = {}

local function check_opts(fname, opts, allowed)
  opts = opts or {}
  if type(opts) ~= "table" then error(fname .. ": expected an options table, got " .. type(opts), 3) end
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  for k in pairs(opts) do
    if not set[k] then
      error(string.format("%s: unknown option '%s' (expected %s)", fname, tostring(k), table.concat(allowed, ", ")), 3)
    end
  end
  return opts
end

local function need_integer(fname, opts, key, min)
  local v = opts[key]
  if math.type(v) ~= "integer" or v < min then
    error(string.format("%s: %s: expected an integer >= %d, got %s", fname, key, min, tostring(v)), 3)
  end
  return v
end

-- ---- factors ---------------------------------------------------------------------------------

-- step / warmup during the warmup, then 1.
function S.constant_factor(step, warmup)
  if step < warmup then return step / math.max(1, warmup) end
  return 1.0
end

-- step / warmup during the warmup, then linear from 1 down to 0 at `total`, then 0.
function S.linear_factor(step, warmup, total)
  if step < warmup then return step / math.max(1, warmup) end
  return math.max(0.0, (total - step) / math.max(1, total - warmup))
end

-- step / warmup during the warmup, then half a cosine (num_cycles = 0.5) from 1 to min_ratio.
function S.cosine_factor(step, warmup, total, num_cycles, min_ratio)
  num_cycles, min_ratio = num_cycles or 0.5, min_ratio or 0
  if step < warmup then return step / math.max(1, warmup) end
  local progress = (step - warmup) / math.max(1, total - warmup)
  local c = math.max(0.0, 0.5 * (1.0 + math.cos(math.pi * num_cycles * 2.0 * progress)))
  return min_ratio + (1 - min_ratio) * c
end

-- ---- step-driven schedulers --------------------------------------------------------------------

local Lambda = {}
Lambda.__index = Lambda

local function lambda_new(kind, opt, factor, config)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    error(kind .. ": argument #1: expected an optimizer", 3)
  end
  local self = setmetatable({kind = kind, opt = opt, factor = factor, config = config, last_step = 0, base_lrs = {}},
    Lambda)
  for i, g in ipairs(opt.param_groups) do
    if g.initial_lr == nil then g.initial_lr = g.lr end
    self.base_lrs[i] = g.initial_lr
  end
  self:apply()
  return self
end

function Lambda:apply()
  local f = self.factor(self.last_step)
  for i, g in ipairs(self.opt.param_groups) do g.lr = self.base_lrs[i] * f end
end

-- Advances one step and sets the groups' lrs.
function Lambda:step()
  self.last_step = self.last_step + 1
  self:apply()
end

function Lambda:get_last_lr()
  local out = {}
  for i, g in ipairs(self.opt.param_groups) do out[i] = g.lr end
  return out
end

function Lambda:state_dict()
  local base = {}
  for i, v in ipairs(self.base_lrs) do base[i] = v end
  return {kind = self.kind, last_step = self.last_step, base_lrs = base, config = self.config}
end

function Lambda:load_state_dict(sd)
  if type(sd) ~= "table" or sd.kind ~= self.kind then
    error(string.format("%s:load_state_dict: the state is of a %s schedule", self.kind,
      type(sd) == "table" and tostring(sd.kind) or type(sd)), 2)
  end
  if #sd.base_lrs ~= #self.opt.param_groups then
    error(string.format("%s:load_state_dict: the state has %d groups, the optimizer %d", self.kind, #sd.base_lrs,
      #self.opt.param_groups), 2)
  end
  self.last_step = math.tointeger(sd.last_step) or sd.last_step
  for i, v in ipairs(sd.base_lrs) do
    self.base_lrs[i] = v
    self.opt.param_groups[i].initial_lr = v
  end
  self:apply()
end

-- constant(opt, {warmup_steps = 0}): base lr (after an optional linear warmup from 0).
function S.constant(opt, opts)
  opts = check_opts("constant", opts, {"warmup_steps"})
  local warmup = opts.warmup_steps or 0
  if math.type(warmup) ~= "integer" or warmup < 0 then error("constant: warmup_steps: expected an integer >= 0", 2) end
  return lambda_new("constant", opt, function(step) return S.constant_factor(step, warmup) end,
    {warmup_steps = warmup})
end

-- linear(opt, {warmup_steps =, total_steps =}): HF get_linear_schedule_with_warmup.
function S.linear(opt, opts)
  opts = check_opts("linear", opts, {"warmup_steps", "total_steps"})
  local warmup = opts.warmup_steps == nil and 0 or need_integer("linear", opts, "warmup_steps", 0)
  local total = need_integer("linear", opts, "total_steps", 1)
  return lambda_new("linear", opt, function(step) return S.linear_factor(step, warmup, total) end,
    {warmup_steps = warmup, total_steps = total})
end

-- cosine(opt, {warmup_steps =, total_steps =, num_cycles = 0.5, min_lr_ratio = 0}): HF
-- get_cosine_schedule_with_warmup (min_lr_ratio lifts the floor to a fraction of the base lr).
function S.cosine(opt, opts)
  opts = check_opts("cosine", opts, {"warmup_steps", "total_steps", "num_cycles", "min_lr_ratio"})
  local warmup = opts.warmup_steps == nil and 0 or need_integer("cosine", opts, "warmup_steps", 0)
  local total = need_integer("cosine", opts, "total_steps", 1)
  local cycles, min_ratio = opts.num_cycles or 0.5, opts.min_lr_ratio or 0
  return lambda_new("cosine", opt, function(step) return S.cosine_factor(step, warmup, total, cycles, min_ratio) end,
    {warmup_steps = warmup, total_steps = total, num_cycles = cycles, min_lr_ratio = min_ratio})
end

-- ---- ReduceLROnPlateau -------------------------------------------------------------------------

local Plateau = {}
Plateau.__index = Plateau

local plateau_keys = {"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "min_lr", "eps"}

-- reduce_lr_on_plateau(opt, {mode = "min", factor = 0.1, patience = 10, threshold = 1e-4,
-- threshold_mode = "rel", cooldown = 0, min_lr = 0 (a number or one per group), eps = 1e-8}):
-- after more than `patience` steps without improvement (rel: better than best * (1 -/+
-- threshold); abs: best -/+ threshold) each lr becomes max(lr * factor, min_lr), unless that
-- changes it by eps or less; then `cooldown` steps pass before counting again.
function S.reduce_lr_on_plateau(opt, opts)
  opts = check_opts("reduce_lr_on_plateau", opts, plateau_keys)
  if type(opt) ~= "table" or type(opt.param_groups) ~= "table" then
    error("reduce_lr_on_plateau: argument #1: expected an optimizer", 2)
  end
  local mode = opts.mode or "min"
  if mode ~= "min" and mode ~= "max" then error("reduce_lr_on_plateau: mode: expected \"min\" or \"max\", got " .. tostring(mode), 2) end
  local tmode = opts.threshold_mode or "rel"
  if tmode ~= "rel" and tmode ~= "abs" then
    error("reduce_lr_on_plateau: threshold_mode: expected \"rel\" or \"abs\", got " .. tostring(tmode), 2)
  end
  local factor = opts.factor or 0.1
  if type(factor) ~= "number" or factor >= 1 or factor <= 0 then
    error("reduce_lr_on_plateau: factor: expected a number in (0, 1), got " .. tostring(factor), 2)
  end
  local min_lr = opts.min_lr or 0
  local min_lrs = {}
  for i = 1, #opt.param_groups do min_lrs[i] = type(min_lr) == "table" and min_lr[i] or min_lr end
  local self = setmetatable({
    kind = "reduce_lr_on_plateau", opt = opt, mode = mode, factor = factor, patience = opts.patience or 10,
    threshold = opts.threshold or 1e-4, threshold_mode = tmode, cooldown = opts.cooldown or 0, min_lrs = min_lrs,
    eps = opts.eps or 1e-8, best = mode == "min" and math.huge or -math.huge, num_bad = 0, cooldown_counter = 0,
    last_step = 0,
  }, Plateau)
  return self
end

function Plateau:is_better(a)
  local best, th = self.best, self.threshold
  if self.mode == "min" then
    if self.threshold_mode == "rel" then return a < best * (1 - th) end
    return a < best - th
  end
  if self.threshold_mode == "rel" then return a > best * (1 + th) end
  return a > best + th
end

-- Feeds one metric value; returns true when the lrs were reduced at this step.
function Plateau:step(metric)
  if type(metric) ~= "number" then
    error("reduce_lr_on_plateau: step: argument #1: expected the metric (a number), got " .. type(metric), 2)
  end
  self.last_step = self.last_step + 1
  if self:is_better(metric) then
    self.best = metric
    self.num_bad = 0
  else
    self.num_bad = self.num_bad + 1
  end
  if self.cooldown_counter > 0 then
    self.cooldown_counter = self.cooldown_counter - 1
    self.num_bad = 0
  end
  if self.num_bad > self.patience then
    local reduced = false
    for i, g in ipairs(self.opt.param_groups) do
      local new_lr = math.max(g.lr * self.factor, self.min_lrs[i])
      if g.lr - new_lr > self.eps then
        g.lr = new_lr
        reduced = true
      end
    end
    self.cooldown_counter = self.cooldown
    self.num_bad = 0
    return reduced
  end
  return false
end

function Plateau:get_last_lr()
  local out = {}
  for i, g in ipairs(self.opt.param_groups) do out[i] = g.lr end
  return out
end

function Plateau:state_dict()
  local sd = {kind = self.kind, min_lrs = {}}
  for _, k in ipairs({"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "eps", "best",
    "num_bad", "cooldown_counter", "last_step"}) do
    sd[k] = self[k]
  end
  for i, v in ipairs(self.min_lrs) do sd.min_lrs[i] = v end
  return sd
end

-- Restores everything, the configuration included (as torch does). The lrs themselves live in
-- the optimizer's state.
function Plateau:load_state_dict(sd)
  if type(sd) ~= "table" or sd.kind ~= self.kind then
    error("reduce_lr_on_plateau:load_state_dict: the state is of a " ..
      (type(sd) == "table" and tostring(sd.kind) or type(sd)) .. " schedule", 2)
  end
  for _, k in ipairs({"mode", "factor", "patience", "threshold", "threshold_mode", "cooldown", "eps", "best",
    "num_bad", "cooldown_counter", "last_step"}) do
    if sd[k] == nil then error("reduce_lr_on_plateau:load_state_dict: the state has no " .. k, 2) end
    local v = sd[k]
    if k == "patience" or k == "cooldown" or k == "num_bad" or k == "cooldown_counter" or k == "last_step" then
      v = math.tointeger(v) or v
    end
    self[k] = v
  end
  for i, v in ipairs(sd.min_lrs or {}) do self.min_lrs[i] = v end
end

return S
