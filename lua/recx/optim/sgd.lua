-- recx.optim.sgd — stochastic gradient descent with momentum, as torch.optim.SGD (dampening,
-- nesterov, L2 weight decay added to the gradient).
--
-- Owns: the per-parameter state {step, momentum_buffer} (the buffer, an f32 tensor shaped like
-- the parameter, exists only when momentum ~= 0; the first step of a parameter initialises it from
-- the gradient, as torch does). Parameters without a gradient are skipped.
--
-- sgd(params | groups, {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0,
--      nesterov = false, param_groups = ...})
local core = require "recx.core"
local Optimizer = require "recx.optim.optimizer"

local tensor = core.tensor

local SGD = setmetatable({}, {__index = Optimizer})
SGD.__index = SGD

local defaults = {lr = 1e-3, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false}

local function new(params, opts)
  local self = Optimizer.create(SGD, "sgd", params, opts, defaults)
  for gi, g in ipairs(self.param_groups) do
    if g.nesterov and (g.momentum <= 0 or g.dampening ~= 0) then
      error(string.format("sgd: group %d: nesterov needs momentum > 0 and dampening 0", gi), 2)
    end
  end
  return self
end

function SGD:step()
  core.no_grad(function()
    for _, g in ipairs(self.param_groups) do
      -- two calls at most: parameters at their first step (buffers initialised from the
      -- gradient) and the others
      local batches = {[true] = {params = {}, grads = {}, bufs = {}}, [false] = {params = {}, grads = {}, bufs = {}}}
      for _, p in ipairs(g.params) do
        local grad = p:grad()
        if grad then
          local st = self.state[p]
          local first = st == nil or (g.momentum ~= 0 and st.momentum_buffer == nil)
          if not st then
            st = {step = 0}
            self.state[p] = st
          end
          if g.momentum ~= 0 and not st.momentum_buffer then
            st.momentum_buffer = tensor.zeros(p:shape(), {dtype = "f32", device = p:device()})
          end
          st.step = st.step + 1
          local b = batches[first]
          local n = #b.params + 1
          b.params[n], b.grads[n], b.bufs[n] = p, grad, st.momentum_buffer or false
        end
      end
      for _, first in ipairs({true, false}) do
        local b = batches[first]
        if #b.params > 0 then
          core.optim.sgd_step(b.params, b.grads, b.bufs, {
            lr = g.lr, momentum = g.momentum, dampening = g.dampening, weight_decay = g.weight_decay,
            nesterov = g.nesterov, first_step = first,
          })
          for _, grad in ipairs(b.grads) do grad:release() end
        end
      end
    end
  end)
end

return new
