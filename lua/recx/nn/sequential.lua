-- recx.nn.Sequential — modules applied one after another: Sequential(a, b, c)(x) = c(b(a(x))).
-- Children are named "0", "1", ... like a ModuleList (seq[1] is the first).
local Module = require "recx.nn.module"
local ModuleList = require "recx.nn.modulelist"

local Sequential = ModuleList:extend("Sequential")

-- Sequential(m1, m2, ...) or Sequential({m1, m2, ...}).
function Sequential:init(first, ...)
  local modules = first
  if first == nil or Module.is_module(first) then
    modules = {first, ...}
  end
  ModuleList.init(self, modules)
end

function Sequential:forward(x)
  for i = 1, self.n do x = self[i](x) end
  return x
end

return Sequential
