-- recx.nn activation modules (ReLU, GELU, GELUTanh, SiLU, Tanh, Sigmoid) and the table of
-- activation functions by name that MLP and models take ("relu", "gelu", "gelu_tanh", "silu",
-- "tanh", "sigmoid").
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"

local M = {functions = {}}

local names = {
  {"ReLU", "relu"}, {"GELU", "gelu"}, {"GELUTanh", "gelu_tanh"}, {"SiLU", "silu"}, {"Tanh", "tanh"},
  {"Sigmoid", "sigmoid"},
}
for _, pair in ipairs(names) do
  local class_name, fname = pair[1], pair[2]
  local fn = F[fname]
  local cls = Module:extend(class_name)
  function cls:forward(x) return fn(x) end
  M[class_name] = cls
  M.functions[fname] = fn
end

-- The activation function for a name or a function (returned as is).
function M.resolve(act, fname)
  if type(act) == "function" then return act end
  local fn = M.functions[act]
  if not fn then
    local known = {}
    for _, pair in ipairs(names) do known[#known + 1] = pair[2] end
    error(string.format("%s: unknown activation '%s' (expected %s or a function)", fname, tostring(act),
      table.concat(known, ", ")), 3)
  end
  return fn
end

return M
