-- recx.optim — optimizers and the training-step helpers around them.
--
-- Owns: the exports (adamw, sgd, schedules, accumulate, Optimizer), param_groups (splitting a
-- model's parameters into decayed and not-decayed groups by name) and clip_grad_norm (global L2
-- norm clipping in place, torch semantics; the norm as a number or, without a host read-back, as
-- a device tensor).
local core = require "recx.core"

local optim = {
  adamw = require "recx.optim.adamw",
  sgd = require "recx.optim.sgd",
  schedules = require "recx.optim.schedules",
  accumulate = require "recx.optim.accumulate",
  Optimizer = require "recx.optim.optimizer",
}

-- Scales the gradients of params in place so that their global L2 norm is at most max_norm
-- (factor max_norm / (norm + 1e-6) when below 1). Returns the norm before clipping (0 without
-- gradients). A non-finite norm is returned and the gradients are left as they are.
-- With opts.as_tensor the norm comes back as a 0-d f32 tensor on the gradients' device (on the
-- first parameter's device, holding 0, without gradients) and nothing is read back to the host:
-- on CUDA the clipping factor is computed and applied by kernels (core.optim.clip_grad_norm_),
-- so a training step does not wait for the GPU here. On the CPU both forms give the same bits.
function optim.clip_grad_norm(params, max_norm, opts)
  if type(params) ~= "table" then error("clip_grad_norm: argument #1: expected a list of tensors, got " .. type(params), 2) end
  if type(max_norm) ~= "number" or not (max_norm > 0) then
    error("clip_grad_norm: argument #2: expected a positive max_norm, got " .. tostring(max_norm), 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("clip_grad_norm: argument #3: expected an options table {as_tensor = true}, got " .. type(opts), 2)
  end
  for k in pairs(opts or {}) do
    if k ~= "as_tensor" then error("clip_grad_norm: unknown option '" .. tostring(k) .. "' (expected as_tensor)", 2) end
  end
  local as_tensor = opts ~= nil and opts.as_tensor == true
  local grads = {}
  for _, p in ipairs(params) do
    local g = p:grad()
    if g then grads[#grads + 1] = g end
  end
  if #grads == 0 then
    if not as_tensor then return 0.0 end
    return core.tensor.zeros({}, {device = params[1] and params[1]:device() or "cpu"})
  end
  if as_tensor then
    local norm = core.optim.clip_grad_norm_(grads, max_norm)
    for _, g in ipairs(grads) do g:release() end
    return norm
  end
  local total = core.optim.global_norm(grads)
  local coef = max_norm / (total + 1e-6)
  if coef < 1 and total == total and total < math.huge then core.optim.scale_(grads, coef) end
  for _, g in ipairs(grads) do g:release() end
  return total
end

-- Splits model:named_parameters() into {{params = decayed}, {params = others, weight_decay = 0}}:
-- a parameter goes to the second group when its name contains one of opts.no_decay (plain
-- substrings; default {"bias", "norm"}). opts.weight_decay, when given, is set on the first
-- group (else it takes the optimizer's). Empty groups are left out.
function optim.param_groups(model, opts)
  if type(model) ~= "table" or type(model.named_parameters) ~= "function" then
    error("param_groups: argument #1: expected a module", 2)
  end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "no_decay" and k ~= "weight_decay" then
      error("param_groups: unknown option '" .. tostring(k) .. "' (expected no_decay, weight_decay)", 2)
    end
  end
  local patterns = opts.no_decay or {"bias", "norm"}
  local decay, other = {}, {}
  for _, e in ipairs(model:named_parameters()) do
    local name, skip = e[1], false
    for _, pat in ipairs(patterns) do
      if name:find(pat, 1, true) then skip = true end
    end
    if skip then other[#other + 1] = e[2] else decay[#decay + 1] = e[2] end
  end
  local groups = {}
  if #decay > 0 then groups[#groups + 1] = {params = decay, weight_decay = opts.weight_decay} end
  if #other > 0 then groups[#groups + 1] = {params = other, weight_decay = 0} end
  return groups
end

return optim
