-- recx.nn.init — in-place initialisers of parameters (exposed as recx.nn.init).
--
-- Owns: uniform_, normal_, zeros_, ones_, constant_, xavier_uniform_, xavier_normal_,
-- kaiming_uniform_ and the fan computation. Every function writes into t under no_grad and
-- returns t. Random draws come from `gen` (a recx.tensor.generator) or the default generator,
-- in f64 for f64 tensors and in f32 otherwise (then cast), so an initialisation is reproducible
-- from a seed on every device and dtype.
local core = require "recx.core"

local tensor = core.tensor

local init = {}

local function check_tensor(fname, t)
  if not tensor.is_tensor(t) then error(fname .. ": argument #1: expected a tensor, got " .. type(t), 3) end
  local dt = t:dtype()
  if dt ~= "f32" and dt ~= "f64" and dt ~= "f16" and dt ~= "bf16" then
    error(fname .. ": argument #1: expected a floating-point tensor, got " .. dt, 3)
  end
end

local function draw_dtype(t)
  return t:dtype() == "f64" and "f64" or "f32"
end

local function write(t, values)
  core.no_grad(function() t:copy_(values) end)
  values:release()
  return t
end

-- (fan_in, fan_out) of a weight shaped (out, in, k...): fan_in = in * prod(k), fan_out = out * prod(k).
function init.fans(t)
  local s = t:shape()
  if #s < 2 then error("fans: expected a tensor with at least 2 dims, got " .. #s, 2) end
  local receptive = 1
  for i = 3, #s do receptive = receptive * s[i] end
  return s[2] * receptive, s[1] * receptive
end

-- Uniform on [a, b).
function init.uniform_(t, a, b, gen)
  check_tensor("uniform_", t)
  local u = tensor.rand(t:shape(), {dtype = draw_dtype(t), device = t:device(), generator = gen})
  return write(t, u:mul_(b - a):add_(a))
end

-- Normal(mean, std).
function init.normal_(t, mean, std, gen)
  check_tensor("normal_", t)
  local z = tensor.randn(t:shape(), {dtype = draw_dtype(t), device = t:device(), generator = gen})
  return write(t, z:mul_(std):add_(mean))
end

function init.constant_(t, v)
  check_tensor("constant_", t)
  core.no_grad(function() t:fill_(v) end)
  return t
end

function init.zeros_(t) return init.constant_(t, 0) end
function init.ones_(t) return init.constant_(t, 1) end

-- Glorot: U(-g * sqrt(6 / (fan_in + fan_out)), +...).
function init.xavier_uniform_(t, gain, gen)
  local fan_in, fan_out = init.fans(t)
  local bound = (gain or 1) * math.sqrt(6 / (fan_in + fan_out))
  return init.uniform_(t, -bound, bound, gen)
end

function init.xavier_normal_(t, gain, gen)
  local fan_in, fan_out = init.fans(t)
  return init.normal_(t, 0, (gain or 1) * math.sqrt(2 / (fan_in + fan_out)), gen)
end

-- He uniform for a leaky ReLU of slope a, fan_in mode: bound = sqrt(6 / ((1 + a^2) fan_in)).
-- With a = sqrt(5) (torch's Linear default) the bound is 1 / sqrt(fan_in).
function init.kaiming_uniform_(t, a, gen)
  local fan_in = init.fans(t)
  local bound = math.sqrt(6 / ((1 + (a or 0) ^ 2) * fan_in))
  return init.uniform_(t, -bound, bound, gen)
end

return init
