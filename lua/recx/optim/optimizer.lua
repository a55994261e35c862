-- recx.optim.Optimizer — what AdamW and SGD share: parameter groups, per-parameter state,
-- zero_grad, and state_dict / load_state_dict.
--
-- Owns: building the groups from `optim.adamw(params, opts)` where params is a list of tensors
-- or a list of groups ({params = {...}, lr = ..., weight_decay = 0, ...}), or opts.param_groups
-- holds the groups; every group option not given falls back to opts, then to the optimizer's
-- defaults. A parameter appears in one group only. State is per parameter (self.state[p]), made
-- lazily by the optimizer at its first step with a gradient.
--
-- state_dict() numbers the parameters 1, 2, ... across the groups in order:
--   {kind = "adamw", param_groups = {{lr =, ..., params = {1, 2}}, ...},
--    state = {[1] = {step = 3, exp_avg = <tensor>, exp_avg_sq = <tensor>}, ...}}
-- (the live state tensors, not copies). load_state_dict checks kind, group sizes and tensor
-- shapes before changing anything, then copies the tensors into fresh state.
local core = require "recx.core"

local tensor = core.tensor

local Optimizer = {}
Optimizer.__index = Optimizer

local function fail(fname, fmt, ...)
  error(fname .. ": " .. string.format(fmt, ...), 4)
end

local function is_group_list(v)
  return type(v) == "table" and type(v[1]) == "table" and not tensor.is_tensor(v[1])
end

-- cls: the optimizer class; defaults: {name = default}; allowed: extra option names (besides
-- the defaults' names) accepted in opts.
function Optimizer.create(cls, kind, params, opts, defaults)
  opts = opts or {}
  if type(opts) ~= "table" then fail(kind, "argument #2: expected an options table, got %s", type(opts)) end
  for k in pairs(opts) do
    if k ~= "param_groups" and defaults[k] == nil then
      local names = {}
      for n in pairs(defaults) do names[#names + 1] = n end
      table.sort(names)
      fail(kind, "argument #2: unknown option '%s' (expected %s, param_groups)", tostring(k), table.concat(names, ", "))
    end
  end
  local groups
  if opts.param_groups ~= nil then
    if params ~= nil then fail(kind, "argument #1: give the parameters or opts.param_groups, not both") end
    groups = opts.param_groups
  elseif is_group_list(params) then
    groups = params
  else
    if type(params) ~= "table" then fail(kind, "argument #1: expected a list of tensors or of groups, got %s", type(params)) end
    groups = {{params = params}}
  end
  local self = setmetatable({kind = kind, param_groups = {}, state = {}, defaults = defaults}, cls)
  local seen = {}
  for gi, g in ipairs(groups) do
    if type(g) ~= "table" or type(g.params) ~= "table" then
      fail(kind, "group %d: expected a table with a list `params`", gi)
    end
    local group = {params = {}}
    for k, v in pairs(g) do
      if k ~= "params" then
        if defaults[k] == nil then fail(kind, "group %d: unknown option '%s'", gi, tostring(k)) end
        group[k] = v
      end
    end
    for k, v in pairs(defaults) do
      if group[k] == nil then
        if opts[k] ~= nil then group[k] = opts[k] else group[k] = v end
      end
    end
    for i, p in ipairs(g.params) do
      if not tensor.is_tensor(p) then fail(kind, "group %d: parameter %d is a %s, not a tensor", gi, i, type(p)) end
      if seen[p] then fail(kind, "group %d: parameter %d appears twice", gi, i) end
      seen[p] = true
      group.params[i] = p
    end
    self.param_groups[gi] = group
  end
  if #self.param_groups == 0 then fail(kind, "no parameter groups") end
  return self
end

-- Every parameter, in state_dict order.
function Optimizer:params()
  local out = {}
  for _, g in ipairs(self.param_groups) do
    for _, p in ipairs(g.params) do out[#out + 1] = p end
  end
  return out
end

-- Sets every parameter's gradient to nil (the next backward allocates fresh ones).
function Optimizer:zero_grad()
  for _, p in ipairs(self:params()) do p:set_grad(nil) end
end

function Optimizer:state_dict()
  local groups, state, index = {}, {}, 0
  for gi, g in ipairs(self.param_groups) do
    local entry = {params = {}}
    for k, v in pairs(g) do
      if k ~= "params" then entry[k] = v end
    end
    for _, p in ipairs(g.params) do
      index = index + 1
      entry.params[#entry.params + 1] = index
      if self.state[p] then state[index] = self.state[p] end
    end
    groups[gi] = entry
  end
  return {kind = self.kind, param_groups = groups, state = state}
end

local function shape_str(s)
  return "(" .. table.concat(s, ", ") .. ")"
end

-- The keys of t in a fixed order (numbers first, ascending, then strings), for stable errors.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) == type(b) then return a < b end
    return type(a) == "number"
  end)
  return keys
end

-- A copy of src as a state tensor (f32) of parameter p, on p's device.
local function adopt(src, p)
  local out = src:to({dtype = "f32", device = p:device()})
  if out:shares_storage(src) then
    local copy = out:clone()
    out:release()
    out = copy
  end
  return out
end

-- Restores a state_dict() of an optimizer of the same kind over the same parameter layout
-- (state tensors become f32 copies on the parameter's device).
function Optimizer:load_state_dict(sd)
  local fname = self.kind .. ":load_state_dict"
  if type(sd) ~= "table" then fail(fname, "argument #1: expected a state table, got %s", type(sd)) end
  if sd.kind ~= self.kind then
    fail(fname, "the state is of kind '%s', this optimizer is '%s'", tostring(sd.kind), self.kind)
  end
  if type(sd.param_groups) ~= "table" or #sd.param_groups ~= #self.param_groups then
    fail(fname, "the state has %s parameter groups, this optimizer %d",
      type(sd.param_groups) == "table" and tostring(#sd.param_groups) or "no", #self.param_groups)
  end
  local params = self:params()
  for gi, g in ipairs(self.param_groups) do
    local sg = sd.param_groups[gi]
    local n = type(sg.params) == "table" and #sg.params or 0
    if n ~= #g.params then
      fail(fname, "group %d has %d parameters in the state, %d in this optimizer", gi, n, #g.params)
    end
  end
  for _, i in ipairs(sorted_keys(sd.state or {})) do
    local p, entry = params[i], sd.state[i]
    if not p then fail(fname, "state for parameter %s, but this optimizer has %d", tostring(i), #params) end
    for _, k in ipairs(sorted_keys(entry)) do
      local v = entry[k]
      if tensor.is_tensor(v) then
        if shape_str(v:shape()) ~= shape_str(p:shape()) then
          fail(fname, "parameter %d: %s has shape %s, the parameter %s", i, k, shape_str(v:shape()), shape_str(p:shape()))
        end
      elseif type(v) ~= "number" and type(v) ~= "boolean" then
        fail(fname, "parameter %d: %s is a %s (expected a tensor or a number)", i, k, type(v))
      end
    end
  end
  for gi, g in ipairs(self.param_groups) do
    for k, v in pairs(sd.param_groups[gi]) do
      if k ~= "params" then g[k] = v end
    end
  end
  self.state = {}
  for i, entry in pairs(sd.state or {}) do
    local p, st = params[i], {}
    for k, v in pairs(entry) do
      if tensor.is_tensor(v) then
        st[k] = adopt(v, p)
      else
        st[k] = v
      end
    end
    self.state[p] = st
  end
end

-- The learning rate of each group, in order.
function Optimizer:get_lr()
  local out = {}
  for i, g in ipairs(self.param_groups) do out[i] = g.lr end
  return out
end

return Optimizer
