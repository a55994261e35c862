-- recx.nn.ModuleList — an ordered list of child modules, named "0", "1", ... as in PyTorch
-- ("layers.0.self_attn.q_proj.weight"), and reachable the Lua way: list[1] is child "0",
-- #list and ipairs(list) work.
local Module = require "recx.nn.module"

local ModuleList = Module:extend("ModuleList")

function ModuleList:init(modules)
  if modules ~= nil and type(modules) ~= "table" then
    error("ModuleList: argument #1: expected a list of modules, got " .. type(modules), 3)
  end
  self.n = 0
  for _, m in ipairs(modules or {}) do self:append(m) end
end

-- Adds m as the next child; returns self.
function ModuleList:append(m)
  self:add_module(tostring(self.n), m)
  self.n = self.n + 1
  rawset(self, self.n, m)
  return self
end

function ModuleList:__len()
  return self.n
end

function ModuleList:forward()
  error("ModuleList: a list has no forward; call its modules", 2)
end

return ModuleList
