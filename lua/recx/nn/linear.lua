-- recx.nn.Linear — y = x W^T + b.
--
-- Owns: the layer's parameters, weight (out, in) and bias (out), initialised as torch's Linear
-- (kaiming_uniform_ with a = sqrt(5): U(-1/sqrt(in), 1/sqrt(in)) for both).
-- Options: bias (default true), dtype (default "f32"), device, generator (for the init).
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"
local init = require "recx.nn.initializers"
local tensor = require("recx.core").tensor

local Linear = Module:extend("Linear")

local function check_size(fname, i, v, what)
  if math.type(v) ~= "integer" or v < 1 then
    error(string.format("%s: argument #%d: expected a positive integer %s, got %s", fname, i, what, tostring(v)), 4)
  end
end

function Linear:init(in_features, out_features, opts)
  check_size("Linear", 1, in_features, "in_features")
  check_size("Linear", 2, out_features, "out_features")
  opts = Module.check_options("Linear", opts, {"bias", "dtype", "device", "generator"})
  self.in_features, self.out_features = in_features, out_features
  local topts = {dtype = opts.dtype or "f32", device = opts.device}
  local w = init.kaiming_uniform_(tensor.empty({out_features, in_features}, topts), math.sqrt(5), opts.generator)
  self:register_parameter("weight", w)
  if opts.bias ~= false then
    local bound = 1 / math.sqrt(in_features)
    self:register_parameter("bias", init.uniform_(tensor.empty({out_features}, topts), -bound, bound, opts.generator))
  end
end

function Linear:forward(x)
  return F.linear(x, self.weight, self.bias)
end

function Linear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s", self.in_features, self.out_features,
    tostring(self.bias ~= nil))
end

return Linear
