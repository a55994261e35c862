-- recx.nn.Dropout — zeroes elements with probability p while training, the identity in eval.
--
-- Owns: p and the module's generator (opts.generator, else the default generator), which is
-- what makes a run with dropout replayable: save and restore that generator's state.
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"

local Dropout = Module:extend("Dropout")

function Dropout:init(p, opts)
  if type(p) ~= "number" or p < 0 or p >= 1 then
    error("Dropout: argument #1: expected a probability in [0, 1), got " .. tostring(p), 3)
  end
  opts = Module.check_options("Dropout", opts, {"generator"})
  self.p, self.generator = p, opts.generator
end

function Dropout:forward(x)
  return F.dropout(x, self.p, self.training, self.generator)
end

function Dropout:extra_repr()
  return string.format("p=%g", self.p)
end

return Dropout
