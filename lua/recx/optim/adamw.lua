-- recx.optim.adamw — AdamW (decoupled weight decay, bias-corrected moments), as torch.optim.AdamW.
--
-- Owns: the per-parameter state {step, exp_avg, exp_avg_sq} (f32 tensors shaped like the
-- parameter, made at its first step with a gradient) and batching the update: parameters of one
-- group at the same step number go to one rx_adamw_step call. Parameters without a gradient
-- are skipped (their step count does not advance).
--
-- adamw(params | groups, {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
--        weight_decay = 0.01, betas = {b1, b2} (same as beta1/beta2), param_groups = ...})
local core = require "recx.core"
local Optimizer = require "recx.optim.optimizer"

local tensor = core.tensor

local AdamW = setmetatable({}, {__index = Optimizer})
AdamW.__index = AdamW

local defaults = {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01}

-- {betas = {b1, b2}} -> {beta1 = b1, beta2 = b2} (in opts and in each group)
local function split_betas(t, where)
  if type(t) ~= "table" or t.betas == nil then return t end
  local b = t.betas
  if type(b) ~= "table" or type(b[1]) ~= "number" or type(b[2]) ~= "number" then
    error("adamw: " .. where .. ": betas: expected {beta1, beta2}", 4)
  end
  local out = {}
  for k, v in pairs(t) do
    if k ~= "betas" then out[k] = v end
  end
  out.beta1, out.beta2 = b[1], b[2]
  return out
end

local function new(params, opts)
  opts = split_betas(opts, "options")
  if type(opts) == "table" and opts.param_groups ~= nil then
    local copy = {}
    for k, v in pairs(opts) do copy[k] = v end
    copy.param_groups = {}
    for i, g in ipairs(opts.param_groups) do copy.param_groups[i] = split_betas(g, "group " .. i) end
    opts = copy
  elseif type(params) == "table" and type(params[1]) == "table" and not tensor.is_tensor(params[1]) then
    local groups = {}
    for i, g in ipairs(params) do groups[i] = split_betas(g, "group " .. i) end
    params = groups
  end
  return Optimizer.create(AdamW, "adamw", params, opts, defaults)
end

function AdamW:step()
  core.no_grad(function()
    for _, g in ipairs(self.param_groups) do
      local batches, steps = {}, {}
      for _, p in ipairs(g.params) do
        local grad = p:grad()
        if grad then
          local st = self.state[p]
          if not st then
            local like = {dtype = "f32", device = p:device()}
            st = {step = 0, exp_avg = tensor.zeros(p:shape(), like), exp_avg_sq = tensor.zeros(p:shape(), like)}
            self.state[p] = st
          end
          st.step = st.step + 1
          local b = batches[st.step]
          if not b then
            b = {params = {}, grads = {}, exp_avg = {}, exp_avg_sq = {}}
            batches[st.step] = b
            steps[#steps + 1] = st.step
          end
          local n = #b.params + 1
          b.params[n], b.grads[n], b.exp_avg[n], b.exp_avg_sq[n] = p, grad, st.exp_avg, st.exp_avg_sq
        end
      end
      table.sort(steps)
      for _, step in ipairs(steps) do
        local b = batches[step]
        core.optim.adamw_step(b.params, b.grads, b.exp_avg, b.exp_avg_sq, {
          lr = g.lr, beta1 = g.beta1, beta2 = g.beta2, eps = g.eps, weight_decay = g.weight_decay, step = step,
        })
        for _, grad in ipairs(b.grads) do grad:release() end
      end
    end
  end)
end

return new
