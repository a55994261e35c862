-- recx.nn.LayerNorm — y = (x - mean) / sqrt(var + eps) * weight + bias over the last dim.
--
-- Owns: weight (ones) and bias (zeros), both (dim). Options: eps (default 1e-5), bias (default
-- true), dtype, device.
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"
local core = require "recx.core"

local LayerNorm = Module:extend("LayerNorm")

function LayerNorm:init(dim, opts)
  if math.type(dim) ~= "integer" or dim < 1 then
    error("LayerNorm: argument #1: expected a positive integer dim, got " .. tostring(dim), 3)
  end
  opts = Module.check_options("LayerNorm", opts, {"eps", "bias", "dtype", "device"})
  self.dim, self.eps = dim, opts.eps or 1e-5
  local topts = {dtype = opts.dtype or "f32", device = opts.device}
  self:register_parameter("weight", core.tensor.ones({dim}, topts))
  if opts.bias ~= false then self:register_parameter("bias", core.tensor.zeros({dim}, topts)) end
end

function LayerNorm:forward(x)
  return F.layernorm(x, self.weight, self.bias, self.eps)
end

function LayerNorm:extra_repr()
  return string.format("%d, eps=%g", self.dim, self.eps)
end

return LayerNorm
