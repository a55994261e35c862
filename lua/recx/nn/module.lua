-- recx.nn.Module — the base of every layer and model: classes, registration of parameters,
-- buffers and child modules, and everything that walks the tree.
--
-- Owns: the class system (`local Linear = Module:extend("Linear")`, `Linear(4, 8)` calls
-- Linear:init(4, 8) on a fresh instance, `layer(x)` calls layer:forward(x)), the stable order of
-- parameters (own parameters in registration order, then each child in registration order),
-- Hugging Face-compatible dotted names ("layers.0.self_attn.q_proj.weight"), train/eval,
-- to(device | dtype), state_dict / load_state_dict, freeze / unfreeze, num_parameters and the
-- printed tree.
--
-- A registered parameter or child is a plain field of the instance (`self.weight`); the
-- registration only records its name and kind. Parameters shared by two modules (tied weights)
-- appear once in parameters() / named_parameters() (first name wins) and under every name in
-- state_dict(), as in PyTorch.
local core = require "recx.core"

local tensor = core.tensor
local is_tensor = tensor.is_tensor

local Module = {}
Module.__index = Module
Module.__name = "Module"

-- Keys of an instance that are bookkeeping, not registrable names.
local reserved = {training = true, _kinds = true, _order = true, _persistent = true}

local function fail(fname, fmt, ...)
  error(fname .. ": " .. string.format(fmt, ...), 3)
end

-- Raises for unknown keys in an options table (`allowed` is a list of names).
function Module.check_options(fname, opts, allowed)
  if opts == nil then return {} end
  if type(opts) ~= "table" then fail(fname, "expected an options table, got %s", type(opts)) end
  local set = {}
  for _, k in ipairs(allowed) do set[k] = true end
  for k in pairs(opts) do
    if not set[k] then
      fail(fname, "unknown option '%s' (expected %s)", tostring(k), table.concat(allowed, ", "))
    end
  end
  return opts
end

function Module.is_module(v)
  return type(v) == "table" and rawget(v, "_kinds") ~= nil
end

local function instance_new(cls, ...)
  local self = setmetatable({training = true, _kinds = {}, _order = {}, _persistent = {}}, cls)
  self:init(...)
  return self
end

-- A subclass named `name`: inherits methods and metamethods; calling it builds an instance.
function Module:extend(name)
  assert(type(name) == "string", "extend: expected a class name")
  local cls = {}
  for k, v in pairs(self) do
    if type(k) == "string" and k:sub(1, 2) == "__" then cls[k] = v end
  end
  cls.__index = cls
  cls.__name = name
  cls.super = self
  return setmetatable(cls, {__index = self, __call = instance_new})
end

setmetatable(Module, {__call = instance_new})

function Module:init() end

function Module:forward()
  error(getmetatable(self).__name .. ": forward is not implemented", 2)
end

function Module:__call(...)
  return self:forward(...)
end

-- ---- registration -------------------------------------------------------------------------

local function check_name(self, fname, name)
  if type(name) ~= "string" or name == "" or name:find(".", 1, true) then
    fail(fname, "expected a non-empty name without '.', got %s", type(name) == "string" and ("'" .. name .. "'") or type(name))
  end
  if reserved[name] then fail(fname, "'%s' is a reserved field of modules", name) end
  if self._kinds[name] then fail(fname, "'%s' is already registered (as a %s)", name, self._kinds[name]) end
  if getmetatable(self)[name] ~= nil then fail(fname, "'%s' would hide the method of the same name", name) end
end

local function register(self, kind, name, value)
  self._kinds[name] = kind
  self._order[#self._order + 1] = name
  rawset(self, name, value)
end

-- Registers t as parameter `name` (t becomes self[name] and requires grad). t may be nil: the
-- name is then reserved but absent (an optional bias switched off). Returns t.
function Module:register_parameter(name, t)
  check_name(self, "register_parameter", name)
  if t ~= nil and not is_tensor(t) then
    fail("register_parameter", "'%s': expected a tensor or nil, got %s", name, type(t))
  end
  if t ~= nil then t:requires_grad(true) end
  register(self, "parameter", name, t)
  return t
end

-- Registers a tensor that is state but not trained (moved by to(), saved by state_dict() unless
-- opts.persistent == false). Returns t.
function Module:register_buffer(name, t, opts)
  opts = Module.check_options("register_buffer", opts, {"persistent"})
  check_name(self, "register_buffer", name)
  if t ~= nil and not is_tensor(t) then
    fail("register_buffer", "'%s': expected a tensor or nil, got %s", name, type(t))
  end
  register(self, "buffer", name, t)
  self._persistent[name] = opts.persistent ~= false
  return t
end

-- Registers child module m under `name`. Returns m.
function Module:add_module(name, m)
  check_name(self, "add_module", name)
  if not Module.is_module(m) then fail("add_module", "'%s': expected a module, got %s", name, type(m)) end
  register(self, "module", name, m)
  return m
end

-- ---- walking the tree ---------------------------------------------------------------------

-- Calls fn(prefix, module) for self and every descendant, depth first in registration order.
local function walk(m, prefix, fn)
  fn(prefix, m)
  for _, name in ipairs(m._order) do
    local child = rawget(m, name)
    if m._kinds[name] == "module" and child ~= nil then walk(child, prefix .. name .. ".", fn) end
  end
end

-- { {name, tensor}, ... } of the parameters, each tensor once (tied weights keep their first
-- name), in the stable order.
function Module:named_parameters()
  local out, seen = {}, {}
  walk(self, "", function(prefix, m)
    for _, name in ipairs(m._order) do
      local p = rawget(m, name)
      if m._kinds[name] == "parameter" and p ~= nil and not seen[p] then
        seen[p] = true
        out[#out + 1] = {prefix .. name, p}
      end
    end
  end)
  return out
end

-- The parameters as a list, in the order of named_parameters().
function Module:parameters()
  local out = {}
  for i, e in ipairs(self:named_parameters()) do out[i] = e[2] end
  return out
end

function Module:named_buffers()
  local out, seen = {}, {}
  walk(self, "", function(prefix, m)
    for _, name in ipairs(m._order) do
      local b = rawget(m, name)
      if m._kinds[name] == "buffer" and b ~= nil and not seen[b] then
        seen[b] = true
        out[#out + 1] = {prefix .. name, b}
      end
    end
  end)
  return out
end

-- { {name, module}, ... } of self ("") and every descendant.
function Module:named_modules()
  local out = {}
  walk(self, "", function(prefix, m) out[#out + 1] = {prefix:sub(1, -2), m} end)
  return out
end

-- The direct children, in registration order.
function Module:children()
  local out = {}
  for _, name in ipairs(self._order) do
    if self._kinds[name] == "module" and rawget(self, name) ~= nil then out[#out + 1] = rawget(self, name) end
  end
  return out
end

-- Calls fn(module) on every module of the tree (children first); returns self.
function Module:apply(fn)
  for _, c in ipairs(self:children()) do c:apply(fn) end
  fn(self)
  return self
end

-- ---- modes --------------------------------------------------------------------------------

function Module:train(mode)
  if mode == nil then mode = true end
  walk(self, "", function(_, m) m.training = mode and true or false end)
  return self
end

function Module:eval()
  return self:train(false)
end

function Module:is_training()
  return self.training
end

-- requires_grad off (freeze) or on (unfreeze) for every parameter; returns self.
function Module:freeze()
  for _, p in ipairs(self:parameters()) do p:requires_grad(false) end
  return self
end

function Module:unfreeze()
  for _, p in ipairs(self:parameters()) do p:requires_grad(true) end
  return self
end

-- Clears the gradient of every parameter (sets it to nil).
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p:set_grad(nil) end
  return self
end

-- Number of parameter elements (each shared tensor once); opts.trainable = true counts only
-- the parameters that require grad.
function Module:num_parameters(opts)
  opts = Module.check_options("num_parameters", opts, {"trainable"})
  local n = 0
  for _, p in ipairs(self:parameters()) do
    if not opts.trainable or p:requires_grad() then n = n + p:numel() end
  end
  return n
end

-- ---- conversions --------------------------------------------------------------------------

local float_dtypes = {
  f32 = "f32", float32 = "f32", float = "f32", f16 = "f16", float16 = "f16", half = "f16",
  bf16 = "bf16", bfloat16 = "bf16", f64 = "f64", float64 = "f64", double = "f64",
}
local other_dtypes = {
  i32 = true, int32 = true, int = true, i64 = true, int64 = true, long = true, u8 = true, uint8 = true,
  bool = true,
}

-- Moves / casts every parameter and buffer: arg is a dtype name, a device name or
-- {dtype=, device=}. Only floating-point tensors change dtype (integer buffers keep theirs).
-- Tensors that change are replaced by new leaves (same requires_grad, no grad); tied tensors
-- stay tied. Build optimizers after moving the model. Returns self.
function Module:to(arg)
  local dtype, device
  if type(arg) == "string" then
    local name = arg:gsub("^torch%.", "")
    if float_dtypes[name] then
      dtype = float_dtypes[name]
    elseif other_dtypes[name] then
      fail("to", "modules can only be cast to a floating-point dtype, got '%s'", arg)
    else
      device = arg
    end
  elseif type(arg) == "table" then
    Module.check_options("to", arg, {"dtype", "device"})
    if arg.dtype ~= nil then
      local name = tostring(arg.dtype):gsub("^torch%.", "")
      dtype = float_dtypes[name]
      if not dtype then fail("to", "modules can only be cast to a floating-point dtype, got '%s'", tostring(arg.dtype)) end
    end
    device = arg.device
  else
    fail("to", "expected a dtype, a device or {dtype=, device=}, got %s", type(arg))
  end
  local memo = {}
  local function convert(t)
    if memo[t] then return memo[t] end
    local want = {device = device}
    if dtype and float_dtypes[t:dtype()] then want.dtype = dtype end
    local moved = core.no_grad(t.to, t, want)
    if moved:dtype() == t:dtype() and moved:device() == t:device() then
      moved:release()
      moved = t
    else
      if t:requires_grad() then moved:requires_grad(true) end
    end
    memo[t] = moved
    return moved
  end
  walk(self, "", function(_, m)
    for _, name in ipairs(m._order) do
      local kind, v = m._kinds[name], rawget(m, name)
      if (kind == "parameter" or kind == "buffer") and v ~= nil then rawset(m, name, convert(v)) end
    end
  end)
  return self
end

-- ---- state --------------------------------------------------------------------------------

-- name -> tensor for every parameter and persistent buffer (the live tensors, not copies;
-- tied tensors under each of their names).
function Module:state_dict()
  local out = {}
  walk(self, "", function(prefix, m)
    for _, name in ipairs(m._order) do
      local kind, v = m._kinds[name], rawget(m, name)
      if v ~= nil and (kind == "parameter" or (kind == "buffer" and m._persistent[name])) then
        out[prefix .. name] = v
      end
    end
  end)
  return out
end

local function shape_str(s)
  return "(" .. table.concat(s, ", ") .. ")"
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
  return keys
end

local function quoted(list)
  local parts = {}
  for i, v in ipairs(list) do parts[i] = string.format("%q", v) end
  return table.concat(parts, ", ")
end

-- Copies the tensors of sd (name -> tensor) into the module's parameters and buffers (values
-- are cast to their dtype). Everything is checked before anything is copied: a key whose shape
-- differs is always an error; with opts.strict (the default) so are missing and unexpected keys.
-- Returns {missing = {...}, unexpected = {...}} (sorted names).
function Module:load_state_dict(sd, opts)
  opts = Module.check_options("load_state_dict", opts, {"strict"})
  if type(sd) ~= "table" then fail("load_state_dict", "argument #1: expected a table name -> tensor, got %s", type(sd)) end
  local strict = opts.strict ~= false
  local own = self:state_dict()
  local missing, unexpected, wrong = {}, {}, {}
  for _, name in ipairs(sorted_keys(own)) do
    local src = sd[name]
    if src == nil then
      missing[#missing + 1] = name
    elseif not is_tensor(src) then
      wrong[#wrong + 1] = string.format("%q: expected a tensor, got %s", name, type(src))
    else
      local a, b = own[name]:shape(), src:shape()
      if shape_str(a) ~= shape_str(b) then
        wrong[#wrong + 1] = string.format("%q: expected shape %s, got %s", name, shape_str(a), shape_str(b))
      end
    end
  end
  for _, name in ipairs(sorted_keys(sd)) do
    if own[name] == nil then unexpected[#unexpected + 1] = tostring(name) end
  end
  if #wrong > 0 then error("load_state_dict: " .. table.concat(wrong, "; "), 2) end
  if strict and (#missing > 0 or #unexpected > 0) then
    local parts = {}
    if #missing > 0 then parts[#parts + 1] = "missing keys: " .. quoted(missing) end
    if #unexpected > 0 then parts[#parts + 1] = "unexpected keys: " .. quoted(unexpected) end
    error("load_state_dict: " .. table.concat(parts, "; ") .. " (pass {strict = false} to load the rest)", 2)
  end
  core.no_grad(function()
    for name, t in pairs(own) do
      if sd[name] ~= nil then t:copy_(sd[name]) end
    end
  end)
  return {missing = missing, unexpected = unexpected}
end

-- ---- printing -----------------------------------------------------------------------------

-- The text inside the parentheses of this module's line ("in_features=4, out_features=8").
function Module:extra_repr()
  return ""
end

function Module:__tostring()
  local head = getmetatable(self).__name .. "(" .. (self:extra_repr() or "")
  local lines = {head}
  for _, name in ipairs(self._order) do
    local child = rawget(self, name)
    if self._kinds[name] == "module" and child ~= nil then
      lines[#lines + 1] = "  (" .. name .. "): " .. tostring(child):gsub("\n", "\n  ")
    end
  end
  if #lines == 1 then return head .. ")" end
  lines[#lines + 1] = ")"
  return table.concat(lines, "\n")
end

return Module
