-- recx.nn.lora — LoRA adapters (Hu et al. 2021) as PEFT applies them to causal LMs.
--
-- Owns: LoRALinear (a frozen base weight (out, in) and bias plus trainable A (r, in) and
-- B (out, r): y = x W^T + b + (dropout(x) A^T B^T) * alpha / r; A is drawn like nn.Linear's
-- weight, kaiming-uniform with a = sqrt(5), B starts at zero so an adapted model begins equal
-- to its base), and the functions on whole models:
--   lora.apply(model, {targets = {"q_proj", "k_proj", "v_proj", "o_proj"}, r = 16, alpha = 32,
--              dropout = 0.05, modules_to_save = {"embed_tokens", "lm_head"}, generator = g})
--     replaces every nn.Linear whose dotted name ends with a target ("q_proj" matches
--     "model.layers.0.self_attn.q_proj") by a LoRALinear, freezes every other parameter and
--     keeps the parameters of the modules_to_save trainable (in place: recx keeps no frozen
--     copy of them). Returns the model.
--   lora.merge(model): folds B A * alpha / r into each base weight and puts plain nn.Linear
--     modules back (same weight tensors), so the merged model runs without LoRA.
--   lora.save(model, dir [, {base_model = "org/name"}]): dir/adapter_model.safetensors with the
--     names PEFT 0.21 writes ("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight",
--     modules_to_save as "base_model.model.lm_head.weight") and dir/adapter_config.json.
--   lora.load(model, dir [, {generator = g}]) applies the adapter described by
--     adapter_config.json and loads its tensors; it also reads the names older PEFT versions
--     wrote ("...lora_A.default.weight", "...lm_head.modules_to_save.default.weight"). Every
--     adapter tensor must find its parameter and every LoRA parameter its tensor.
-- The model's own state_dict keeps the base names ("...q_proj.weight") and adds
-- "...q_proj.lora_A.weight" / "lora_B.weight", so recx checkpoints of an adapted model load
-- into an adapted model.
local core = require "recx.core"
local cjson = require "cjson"
local Module = require "recx.nn.module"
local Linear = require "recx.nn.linear"
local Dropout = require "recx.nn.dropout"
local F = require "recx.nn.functional"
local init = require "recx.nn.initializers"
local fs = require "recx.util.fs"
local lora = {}

local PREFIX = "base_model.model."

-- ---- the layer -----------------------------------------------------------------------------

local LoRALinear = Module:extend("LoRALinear")
lora.LoRALinear = LoRALinear

-- LoRALinear(base, {r =, alpha =, dropout =, generator =}): wraps the nn.Linear `base` (its
-- weight and bias become this module's frozen parameters).
function LoRALinear:init(base, cfg)
  local w = base.weight
  self.in_features, self.out_features = base.in_features, base.out_features
  self.r, self.alpha, self.scaling = cfg.r, cfg.alpha, cfg.alpha / cfg.r
  self:register_parameter("weight", w):requires_grad(false)
  if base.bias ~= nil then self:register_parameter("bias", base.bias):requires_grad(false) end
  -- nn.Linear draws its weight kaiming-uniform with a = sqrt(5), as PEFT draws lora_A
  self:add_module("lora_A", Linear(self.in_features, cfg.r, {bias = false, dtype = w:dtype(),
    device = w:device(), generator = cfg.generator}))
  local B = self:add_module("lora_B", Linear(cfg.r, self.out_features, {bias = false, dtype = w:dtype(),
    device = w:device()}))
  init.zeros_(B.weight)
  if cfg.dropout > 0 then self:add_module("lora_dropout", Dropout(cfg.dropout, {generator = cfg.generator})) end
end

-- x (..., in) -> (..., out)
function LoRALinear:forward(x)
  local y = F.linear(x, self.weight, self.bias)
  local h = self.lora_dropout and self.lora_dropout(x) or x
  return y + F.linear(F.linear(h, self.lora_A.weight), self.lora_B.weight) * self.scaling
end

-- W + B A * alpha / r, a new tensor (no graph).
function LoRALinear:merged_weight()
  return core.no_grad(function()
    return self.weight + self.lora_B.weight:matmul(self.lora_A.weight) * self.scaling
  end)
end

function LoRALinear:extra_repr()
  return string.format("in_features=%d, out_features=%d, bias=%s, r=%d, alpha=%g", self.in_features,
    self.out_features, tostring(self.bias ~= nil), self.r, self.alpha)
end

-- ---- helpers -------------------------------------------------------------------------------

local function fail(fmt, ...)
  error(string.format(fmt, ...), 3)
end

-- Does the dotted module name end with one of the names (PEFT's matching of a list)?
local function matches(name, list)
  for _, t in ipairs(list) do
    if name == t or name:sub(-#t - 1) == "." .. t then return true end
  end
  return false
end

-- { {name, module, parent, key}, ... } of every module but the root, parents first.
local function modules_with_parents(model)
  local out = {}
  local function walk(m, prefix)
    for _, key in ipairs(m._order) do
      local child = rawget(m, key)
      if m._kinds[key] == "module" and child ~= nil then
        local name = prefix .. key
        out[#out + 1] = {name, child, m, key}
        walk(child, name .. ".")
      end
    end
  end
  walk(model, "")
  return out
end

local function check_list(fname, what, v)
  if type(v) ~= "table" then fail("%s: option '%s': expected a list of module names, got %s", fname, what, type(v)) end
  for i, s in ipairs(v) do
    if type(s) ~= "string" or s == "" then fail("%s: option '%s': entry %d: expected a module name", fname, what, i) end
  end
end

-- ---- apply / merge -------------------------------------------------------------------------

local apply_keys = {"targets", "r", "alpha", "dropout", "modules_to_save", "generator"}

function lora.apply(model, opts)
  if not Module.is_module(model) then fail("lora.apply: argument #1: expected a module, got %s", type(model)) end
  opts = Module.check_options("lora.apply", opts, apply_keys)
  if rawget(model, "_lora") then fail("lora.apply: the model already has LoRA adapters (merge them first)") end
  local cfg = {
    targets = opts.targets or {"q_proj", "v_proj"}, r = opts.r or 8, alpha = opts.alpha or 8,
    dropout = opts.dropout or 0, modules_to_save = opts.modules_to_save or {}, generator = opts.generator,
  }
  check_list("lora.apply", "targets", cfg.targets)
  check_list("lora.apply", "modules_to_save", cfg.modules_to_save)
  if math.type(cfg.r) ~= "integer" or cfg.r < 1 then fail("lora.apply: option 'r': expected a positive integer, got %s", tostring(cfg.r)) end
  if type(cfg.alpha) ~= "number" or cfg.alpha <= 0 then fail("lora.apply: option 'alpha': expected a positive number, got %s", tostring(cfg.alpha)) end
  if type(cfg.dropout) ~= "number" or cfg.dropout < 0 or cfg.dropout >= 1 then
    fail("lora.apply: option 'dropout': expected a probability in [0, 1), got %s", tostring(cfg.dropout))
  end
  local found = {}
  for _, e in ipairs(modules_with_parents(model)) do
    if matches(e[1], cfg.targets) and getmetatable(e[2]) == Linear then found[#found + 1] = e end
  end
  if #found == 0 then
    fail("lora.apply: no nn.Linear module matches the targets {%s}", table.concat(cfg.targets, ", "))
  end
  model:freeze()
  local names = {}
  for i, e in ipairs(found) do
    local m = LoRALinear(e[2], cfg)
    m:train(e[2].training)
    rawset(e[3], e[4], m)
    names[i] = e[1]
  end
  local saved = {}
  for _, e in ipairs(modules_with_parents(model)) do
    if matches(e[1], cfg.modules_to_save) then
      e[2]:unfreeze()
      saved[#saved + 1] = e[1]
    end
  end
  cfg.adapted, cfg.saved = names, saved
  rawset(model, "_lora", cfg)
  return model
end

-- The names of the adapted modules and of the modules_to_save (after apply or load).
function lora.info(model)
  return rawget(model, "_lora")
end

function lora.merge(model)
  if not Module.is_module(model) then fail("lora.merge: argument #1: expected a module, got %s", type(model)) end
  local n = 0
  for _, e in ipairs(modules_with_parents(model)) do
    local m = e[2]
    if getmetatable(m) == LoRALinear then
      local merged = m:merged_weight()
      core.no_grad(function() m.weight:copy_(merged) end)
      merged:release()
      local plain = Linear(m.in_features, m.out_features, {bias = m.bias ~= nil, dtype = m.weight:dtype(),
        device = m.weight:device()})
      rawset(plain, "weight", m.weight)
      if m.bias ~= nil then rawset(plain, "bias", m.bias) end
      plain:train(m.training)
      rawset(e[3], e[4], plain)
      n = n + 1
    end
  end
  if n == 0 then fail("lora.merge: the model has no LoRA adapters") end
  rawset(model, "_lora", nil)
  return model
end

-- ---- save / load ---------------------------------------------------------------------------

-- name -> tensor of what an adapter file holds for the model (PEFT 0.21 names).
local function adapter_tensors(model)
  local cfg = rawget(model, "_lora")
  local out = {}
  for _, e in ipairs(modules_with_parents(model)) do
    if getmetatable(e[2]) == LoRALinear then
      out[PREFIX .. e[1] .. ".lora_A.weight"] = e[2].lora_A.weight
      out[PREFIX .. e[1] .. ".lora_B.weight"] = e[2].lora_B.weight
    elseif matches(e[1], cfg.modules_to_save) then
      for _, p in ipairs(e[2]:named_parameters()) do out[PREFIX .. e[1] .. "." .. p[1]] = p[2] end
    end
  end
  return out
end

function lora.save(model, dir, opts)
  opts = Module.check_options("lora.save", opts, {"base_model"})
  local cfg = Module.is_module(model) and rawget(model, "_lora")
  if not cfg then fail("lora.save: argument #1: expected a model with LoRA adapters (lora.apply)") end
  if type(dir) ~= "string" then fail("lora.save: argument #2: expected a folder path, got %s", type(dir)) end
  if not fs.mkdir_p(dir) then error("lora.save: cannot create the folder " .. dir, 2) end
  core.safetensors.save(dir .. "/adapter_model.safetensors", adapter_tensors(model), {format = "pt"})
  local enc = cjson.new()
  if enc.encode_escape_forward_slash then enc.encode_escape_forward_slash(false) end
  local config = {
    peft_type = "LORA", task_type = "CAUSAL_LM", r = cfg.r, lora_alpha = cfg.alpha, lora_dropout = cfg.dropout,
    target_modules = cfg.targets, modules_to_save = #cfg.modules_to_save > 0 and cfg.modules_to_save or cjson.null,
    bias = "none", fan_in_fan_out = false, init_lora_weights = true, inference_mode = true, use_rslora = false,
    use_dora = false, base_model_name_or_path = opts.base_model or cjson.null, rank_pattern = {},
    alpha_pattern = {}, revision = cjson.null,
  }
  local f = assert(io.open(dir .. "/adapter_config.json", "w"))
  f:write(enc.encode(config), "\n")
  f:close()
  return dir
end

-- The name recx uses for a name found in an adapter file (older PEFT spellings accepted).
local function canonical(name)
  name = name:gsub("%.lora_([AB])%.default%.weight$", ".lora_%1.weight")
  name = name:gsub("%.modules_to_save%.default%.", ".")
  return name
end

function lora.load(model, dir, opts)
  opts = Module.check_options("lora.load", opts, {"generator"})
  if not Module.is_module(model) then fail("lora.load: argument #1: expected a module, got %s", type(model)) end
  if type(dir) ~= "string" then fail("lora.load: argument #2: expected a folder path, got %s", type(dir)) end
  local f = io.open(dir .. "/adapter_config.json", "r")
  if not f then fail("lora.load: %s/adapter_config.json: cannot open", dir) end
  local ok, c = pcall(cjson.decode, f:read("a"))
  f:close()
  if not ok or type(c) ~= "table" then fail("lora.load: %s/adapter_config.json: not JSON", dir) end
  if c.peft_type ~= nil and c.peft_type ~= "LORA" then fail("lora.load: %s: peft_type %s is not LORA", dir, tostring(c.peft_type)) end
  if c.use_dora == true or c.use_rslora == true then fail("lora.load: %s: DoRA and rsLoRA adapters are not supported", dir) end
  if type(c.rank_pattern) == "table" and next(c.rank_pattern) or type(c.alpha_pattern) == "table" and next(c.alpha_pattern) then
    fail("lora.load: %s: per-module rank_pattern / alpha_pattern are not supported", dir)
  end
  local targets = c.target_modules
  if type(targets) == "string" then targets = {targets} end
  local mts = type(c.modules_to_save) == "table" and c.modules_to_save or {}
  lora.apply(model, {targets = targets, r = math.tointeger(c.r), alpha = c.lora_alpha, dropout = c.lora_dropout or 0,
    modules_to_save = mts, generator = opts.generator})
  local want = adapter_tensors(model)
  local file = core.safetensors.open(dir .. "/adapter_model.safetensors")
  local got, problems = {}, {}
  for _, name in ipairs(file:names()) do
    local key = canonical(name)
    local t = want[key]
    if not t then
      problems[#problems + 1] = string.format("unexpected tensor %q", name)
    else
      local src = file:get(name)
      local a, b = table.concat(t:shape(), ", "), table.concat(src:shape(), ", ")
      if a ~= b then problems[#problems + 1] = string.format("%q: expected shape (%s), got (%s)", name, a, b) end
      got[key] = src
    end
  end
  for key in pairs(want) do
    if not got[key] and key:find("%.lora_[AB]%.weight$") then problems[#problems + 1] = string.format("missing tensor %q", key) end
  end
  if #problems > 0 then
    table.sort(problems)
    file:close()
    error("lora.load: " .. dir .. "/adapter_model.safetensors: " .. table.concat(problems, "; "), 2)
  end
  core.no_grad(function()
    for key, src in pairs(got) do want[key]:copy_(src) end
  end)
  file:close()
  return model
end

return lora
