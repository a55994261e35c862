-- recx.optim.accumulate — gradient accumulation over k micro-batches.
--
-- Owns: counting micro-batches, scaling each loss by 1/k before its backward (so the summed
-- gradient is the mean over the k micro-batches), and, on every k-th one: optional clipping,
-- opt:step(), the scheduler's step() and opt:zero_grad().
--
--   local acc = recx.optim.accumulate(opt, {steps = 4, max_grad_norm = 1.0, scheduler = sched})
--   for _, batch in ipairs(batches) do
--     local loss <close> = model:loss(batch)
--     local stepped, grad_norm = acc:backward(loss)
--   end
--   acc:flush()  -- steps on a partial group (its gradient rescaled to a mean over its size)
--
-- The scheduler must be step-driven (constant, linear, cosine); drive a plateau scheduler
-- yourself. state_dict() / load_state_dict() carry the position inside the current group.
local core = require "recx.core"

local Accumulator = {}
Accumulator.__index = Accumulator

local function new(opt, opts)
  if type(opt) ~= "table" or type(opt.step) ~= "function" then error("accumulate: argument #1: expected an optimizer", 2) end
  opts = opts or {}
  for k in pairs(opts) do
    if k ~= "steps" and k ~= "max_grad_norm" and k ~= "scheduler" then
      error("accumulate: unknown option '" .. tostring(k) .. "' (expected steps, max_grad_norm, scheduler)", 2)
    end
  end
  local k = opts.steps or 1
  if math.type(k) ~= "integer" or k < 1 then error("accumulate: steps: expected an integer >= 1, got " .. tostring(k), 2) end
  return setmetatable({opt = opt, steps = k, max_grad_norm = opts.max_grad_norm, scheduler = opts.scheduler,
    count = 0, optimizer_steps = 0}, Accumulator)
end

function Accumulator:apply()
  local norm
  if self.max_grad_norm then
    norm = require("recx.optim").clip_grad_norm(self.opt:params(), self.max_grad_norm)
  end
  self.opt:step()
  if self.scheduler then self.scheduler:step() end
  self.opt:zero_grad()
  self.count = 0
  self.optimizer_steps = self.optimizer_steps + 1
  return true, norm
end

-- backward of loss / k; returns true (and the gradient norm before clipping, when clipping)
-- when this micro-batch completed a group and the optimizer stepped, false otherwise.
function Accumulator:backward(loss)
  if not core.tensor.is_tensor(loss) then error("accumulate: backward: argument #1: expected a loss tensor", 2) end
  if self.steps == 1 then
    loss:backward()
  else
    local scaled <close> = loss * (1 / self.steps)
    scaled:backward()
  end
  self.count = self.count + 1
  if self.count < self.steps then return false end
  return self:apply()
end

-- Steps on the micro-batches of an unfinished group (their gradients, scaled by 1/k, are
-- rescaled to a mean over the group's size); returns false when there were none.
function Accumulator:flush()
  if self.count == 0 then return false end
  if self.count < self.steps then
    local grads = {}
    for _, p in ipairs(self.opt:params()) do
      local g = p:grad()
      if g then grads[#grads + 1] = g end
    end
    if #grads > 0 then core.optim.scale_(grads, self.steps / self.count) end
    for _, g in ipairs(grads) do g:release() end
  end
  return self:apply()
end

function Accumulator:state_dict()
  return {steps = self.steps, count = self.count, optimizer_steps = self.optimizer_steps}
end

function Accumulator:load_state_dict(sd)
  if type(sd) ~= "table" or sd.steps ~= self.steps then
    error("accumulate:load_state_dict: the state accumulates over " .. tostring(type(sd) == "table" and sd.steps) ..
      " micro-batches, this accumulator over " .. self.steps, 2)
  end
  self.count = math.tointeger(sd.count) or 0
  self.optimizer_steps = math.tointeger(sd.optimizer_steps) or 0
end

return new
