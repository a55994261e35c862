-- recx.nn.RMSNorm — y = x / sqrt(mean(x^2) + eps) * weight over the last dim (Llama's norm).
--
-- Owns: the weight (dim), initialised to ones. Options: eps (default 1e-6), dtype, device.
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"
local core = require "recx.core"

local RMSNorm = Module:extend("RMSNorm")

function RMSNorm:init(dim, opts)
  if math.type(dim) ~= "integer" or dim < 1 then
    error("RMSNorm: argument #1: expected a positive integer dim, got " .. tostring(dim), 3)
  end
  opts = Module.check_options("RMSNorm", opts, {"eps", "dtype", "device"})
  self.dim, self.eps = dim, opts.eps or 1e-6
  self:register_parameter("weight", core.tensor.ones({dim}, {dtype = opts.dtype or "f32", device = opts.device}))
end

function RMSNorm:forward(x)
  return F.rmsnorm(x, self.weight, self.eps)
end

function RMSNorm:extra_repr()
  return string.format("%d, eps=%g", self.dim, self.eps)
end

return RMSNorm
