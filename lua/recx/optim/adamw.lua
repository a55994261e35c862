-- recx.optim.adamw — AdamW (decoupled weight decay, bias-corrected moments), as torch.optim.AdamW.
--
-- Owns: the per-parameter state {step, exp_avg, exp_avg_sq} (f32 tensors shaped like the
-- parameter, made at its first step with a gradient) and batching the update: parameters of one
-- group at the same step number go to one rx_adamw_step call. Parameters without a gradient
-- are skipped (their step count does not advance).
--
-- adamw(params | groups, {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
--        weight_decay = 0.01, betas = {b1, b2} (same as beta1/beta2), master_weights = false,
--        param_groups = ...})
-- master_weights = true (per group): a parameter that is not f32 (bf16, f16) gets an f32 master
-- copy in its state (`master`); the update runs on the master and the parameter receives it
-- rounded to its dtype (mixed-precision training with f32 optimizer state and master weights).
local core = require "recx.core"
local Optimizer = require "recx.optim.optimizer"

local tensor = core.tensor

local AdamW = setmetatable({}, {__index = Optimizer})
AdamW.__index = AdamW

local defaults = {lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01, master_weights = false}

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
      -- batches[key] with key = step number, plus "m" when the batch uses master weights
      local batches, keys = {}, {}
      for _, p in ipairs(g.params) do
        local grad = p:grad()
        if grad then
          local st = self.state[p]
          local with_master = g.master_weights and p:dtype() ~= "f32"
          if not st then
            local like = {dtype = "f32", device = p:device()}
            st = {step = 0, exp_avg = tensor.zeros(p:shape(), like), exp_avg_sq = tensor.zeros(p:shape(), like)}
            self.state[p] = st
          end
          if with_master and not st.master then st.master = p:to({dtype = "f32"}) end
          st.step = st.step + 1
          local key = with_master and (st.step .. "m") or tostring(st.step)
          local b = batches[key]
          if not b then
            b = {step = st.step, master = with_master, params = {}, masters = {}, grads = {}, exp_avg = {},
                 exp_avg_sq = {}}
            batches[key] = b
            keys[#keys + 1] = key
          end
          local n = #b.params + 1
          b.params[n], b.grads[n], b.exp_avg[n], b.exp_avg_sq[n] = p, grad, st.exp_avg, st.exp_avg_sq
          b.masters[n] = st.master
        end
      end
      table.sort(keys, function(x, y)
        local bx, by = batches[x], batches[y]
        if bx.step ~= by.step then return bx.step < by.step end
        return x < y
      end)
      for _, key in ipairs(keys) do
        local b = batches[key]
        local o = {lr = g.lr, beta1 = g.beta1, beta2 = g.beta2, eps = g.eps, weight_decay = g.weight_decay,
                   step = b.step}
        if b.master then
          core.optim.adamw_step_master(b.params, b.masters, b.grads, b.exp_avg, b.exp_avg_sq, o)
        else
          core.optim.adamw_step(b.params, b.grads, b.exp_avg, b.exp_avg_sq, o)
        end
        for _, grad in ipairs(b.grads) do grad:release() end
      end
    end
  end)
end

return new
