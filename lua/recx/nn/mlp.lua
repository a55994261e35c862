-- recx.nn.MLP — Linear -> activation -> (dropout) -> Linear, children "fc1" and "fc2".
--
-- MLP(in, hidden, out, opts): opts.activation is a name ("gelu" by default; see
-- recx.nn.activation) or a function of a tensor; opts.dropout (default 0) applies after the
-- activation with opts.generator; bias, dtype, device and generator go to both Linear layers.
local Module = require "recx.nn.module"
local Linear = require "recx.nn.linear"
local Dropout = require "recx.nn.dropout"
local activation = require "recx.nn.activation"

local MLP = Module:extend("MLP")

function MLP:init(in_features, hidden, out_features, opts)
  opts = Module.check_options("MLP", opts, {"activation", "dropout", "bias", "dtype", "device", "generator"})
  self.activation_name = type(opts.activation) == "string" and opts.activation or
    (opts.activation == nil and "gelu" or "custom")
  self.act = activation.resolve(opts.activation or "gelu", "MLP")
  local lopts = {bias = opts.bias, dtype = opts.dtype, device = opts.device, generator = opts.generator}
  self:add_module("fc1", Linear(in_features, hidden, lopts))
  if opts.dropout and opts.dropout > 0 then
    self:add_module("drop", Dropout(opts.dropout, {generator = opts.generator}))
  end
  self:add_module("fc2", Linear(hidden, out_features, lopts))
end

function MLP:forward(x)
  local h = self.act(self.fc1(x))
  if self.drop then h = self.drop(h) end
  return self.fc2(h)
end

function MLP:extra_repr()
  return "activation=" .. self.activation_name
end

return MLP
