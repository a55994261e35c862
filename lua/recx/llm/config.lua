-- recx.llm.config — the configuration of a Llama-family causal LM as one normalised table.
--
-- Owns: turning a Hugging Face config table (config.json of LlamaForCausalLM, MistralForCausalLM,
-- Qwen2ForCausalLM; transformers 4 style `rope_theta` + `rope_scaling` or transformers 5 style
-- `rope_parameters`) into the fields the model reads, with defaults and consistency checks;
-- the inverse frequencies of the rotary embedding, including the "llama3" frequency
-- adjustment; and the config.json table that save_hf writes.
--
-- Normalised fields: vocab_size, hidden_size, intermediate_size, num_hidden_layers,
-- num_attention_heads, num_key_value_heads (default: heads), head_dim (default hidden / heads),
-- rms_norm_eps (1e-6), rope_theta (10000), rope_scaling (nil or {rope_type = "llama3", factor,
-- low_freq_factor, high_freq_factor, original_max_position_embeddings}), tie_word_embeddings
-- (false), attention_bias (false: q/k/v/o biases, Llama's flag), qkv_bias (q/k/v biases only:
-- true for model_type "qwen2"), mlp_bias (false), max_position_embeddings (2048),
-- initializer_range (0.02), bos_token_id, eos_token_id (a number or a list), pad_token_id,
-- model_type ("llama"), architectures; sliding_window (nil: full causal attention) and
-- layer_types (nil, or one "full_attention" / "sliding_attention" per layer) as transformers
-- reads them: Mistral windows every layer when sliding_window is set (it ignores layer_types);
-- Qwen2 only when use_sliding_window is true, on the layers of layer_types, else on the layers
-- i >= max_window_layers (0-based; default 28); Llama ignores sliding_window.
-- Use:
--   local C = require "recx.llm.config"
--   local cfg = C.normalize({vocab_size = 64, hidden_size = 32, ...})
--   local inv_freq = C.inv_freq(cfg)        -- (head_dim / 2) f32 tensor
--   local w = C.layer_window(cfg, 1)        -- layer 1's window, or nil
local tensor = require("recx.core").tensor

local M = {}

local defaults = {
  rms_norm_eps = 1e-6, rope_theta = 10000.0, tie_word_embeddings = false, attention_bias = false,
  mlp_bias = false, max_position_embeddings = 2048, initializer_range = 0.02, model_type = "llama",
}

local function fail(fmt, ...) error("llama config: " .. string.format(fmt, ...), 0) end

local function positive_int(c, key)
  local v = c[key]
  if math.type(v) ~= "integer" then
    if type(v) == "number" and v == math.floor(v) then return math.tointeger(v) end
    fail("%s: expected a positive integer, got %s", key, tostring(v))
  end
  if v < 1 then fail("%s: expected a positive integer, got %d", key, v) end
  return v
end

-- JSON null (cjson.null is a light userdata) and absent both read as nil.
local function value(v)
  if type(v) == "userdata" then return nil end
  return v
end

local function ids(v)
  v = value(v)
  if type(v) == "table" then
    local out = {}
    for i, x in ipairs(v) do out[i] = math.tointeger(x) or x end
    return out
  end
  return v ~= nil and (math.tointeger(v) or v) or nil
end

-- The rope scaling table in the normalised form, or nil for plain RoPE.
local function rope_scaling(raw)
  raw = value(raw)
  if raw == nil then return nil end
  local kind = value(raw.rope_type) or value(raw.type)
  if kind == nil or kind == "default" then return nil end
  if kind ~= "llama3" then
    fail("rope_scaling: type '%s' is not supported (expected \"llama3\" or none)", tostring(kind))
  end
  local s = {rope_type = "llama3"}
  for _, k in ipairs({"factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"}) do
    local v = value(raw[k])
    if type(v) ~= "number" or v <= 0 then fail("rope_scaling.%s: expected a positive number, got %s", k, tostring(v)) end
    s[k] = v
  end
  if s.high_freq_factor <= s.low_freq_factor then
    fail("rope_scaling: expected high_freq_factor (%g) > low_freq_factor (%g)", s.high_freq_factor, s.low_freq_factor)
  end
  return s
end

-- sliding_window and layer_types of the normalised config c from the raw table (transformers'
-- rules, see the header).
local function sliding(c, raw)
  local w = value(raw.sliding_window)
  local L = c.num_hidden_layers
  c.sliding_window, c.layer_types, c.use_sliding_window, c.max_window_layers = nil, nil, nil, nil
  if c.model_type == "qwen2" and value(raw.use_sliding_window) ~= true then w = nil end
  if w == nil or (c.model_type ~= "mistral" and c.model_type ~= "qwen2") then return end
  c.sliding_window = positive_int({sliding_window = w}, "sliding_window")
  local types = {}
  local given = value(raw.layer_types)
  if c.model_type == "mistral" then
    for i = 1, L do types[i] = "sliding_attention" end
  elseif given ~= nil then
    if type(given) ~= "table" or #given ~= L then
      fail("layer_types: expected a list of %d entries (num_hidden_layers), got %s", L,
        type(given) == "table" and (#given .. " entries") or tostring(given))
    end
    for i, t in ipairs(given) do
      if t ~= "full_attention" and t ~= "sliding_attention" then
        fail("layer_types[%d]: expected \"full_attention\" or \"sliding_attention\", got %s", i, tostring(t))
      end
      types[i] = t
    end
  else
    local first = value(raw.max_window_layers) or 28
    if math.type(first) ~= "integer" and not (type(first) == "number" and first == math.floor(first)) then
      fail("max_window_layers: expected an integer, got %s", tostring(first))
    end
    for i = 1, L do types[i] = i - 1 >= first and "sliding_attention" or "full_attention" end
  end
  c.layer_types = types
  if c.model_type == "qwen2" then c.use_sliding_window = true end -- normalising again keeps the window
end

-- The attention window of layer l (1-based) of config c: a query at slot t sees the keys at
-- slots s with t - w < s <= t; nil means full causal attention.
function M.layer_window(c, l)
  if c.sliding_window and c.layer_types and c.layer_types[l] == "sliding_attention" then return c.sliding_window end
  return nil
end

-- A new normalised config from an HF-style table `raw` (not modified).
function M.normalize(raw)
  if type(raw) ~= "table" then fail("expected a table, got %s", type(raw)) end
  local c = {}
  for k, v in pairs(defaults) do c[k] = v end
  for k, v in pairs(raw) do
    if value(v) ~= nil then c[k] = v end
  end
  for _, k in ipairs({"vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads"}) do
    c[k] = positive_int(c, k)
  end
  c.num_key_value_heads = c.num_key_value_heads ~= nil and positive_int(c, "num_key_value_heads") or c.num_attention_heads
  if c.num_attention_heads % c.num_key_value_heads ~= 0 then
    fail("num_key_value_heads (%d) must divide num_attention_heads (%d)", c.num_key_value_heads, c.num_attention_heads)
  end
  if c.head_dim == nil then
    if c.hidden_size % c.num_attention_heads ~= 0 then
      fail("num_attention_heads (%d) must divide hidden_size (%d) when head_dim is not given",
        c.num_attention_heads, c.hidden_size)
    end
    c.head_dim = c.hidden_size // c.num_attention_heads
  end
  c.head_dim = positive_int(c, "head_dim")
  if c.head_dim % 2 ~= 0 then fail("head_dim: expected an even number, got %d", c.head_dim) end
  c.max_position_embeddings = positive_int(c, "max_position_embeddings")
  -- transformers 5 keeps theta and the scaling in rope_parameters
  local rp = value(raw.rope_parameters)
  if rp ~= nil then
    if value(rp.rope_theta) ~= nil then c.rope_theta = rp.rope_theta end
    c.rope_scaling = rope_scaling(rp)
  else
    c.rope_scaling = rope_scaling(raw.rope_scaling)
  end
  c.rope_parameters = nil
  if type(c.rope_theta) ~= "number" or c.rope_theta <= 0 then fail("rope_theta: expected a positive number, got %s", tostring(c.rope_theta)) end
  if type(c.rms_norm_eps) ~= "number" or c.rms_norm_eps <= 0 then fail("rms_norm_eps: expected a positive number, got %s", tostring(c.rms_norm_eps)) end
  c.qkv_bias = c.qkv_bias or c.model_type == "qwen2"
  c.bos_token_id, c.eos_token_id, c.pad_token_id = ids(raw.bos_token_id), ids(raw.eos_token_id), ids(raw.pad_token_id)
  for _, k in ipairs({"tie_word_embeddings", "attention_bias", "mlp_bias", "qkv_bias"}) do c[k] = c[k] == true end
  sliding(c, raw)
  return c
end

-- Inverse frequencies (head_dim / 2) as a list of doubles: theta^(-2j/D), then the llama3
-- adjustment when configured (wavelengths above original_max / low_freq_factor are divided by
-- factor, those below original_max / high_freq_factor kept, the band between interpolated
-- linearly in original_max / wavelength).
function M.inv_freq_list(c)
  local D = c.head_dim
  local out = {}
  for j = 0, D // 2 - 1 do
    -- HF computes the exponent in f32 and the power in f32: round like it does
    local e = string.unpack("<f", string.pack("<f", (2 * j) / D))
    out[j + 1] = 1.0 / c.rope_theta ^ e
  end
  local s = c.rope_scaling
  if s then
    local old = s.original_max_position_embeddings
    local low_wl, high_wl = old / s.low_freq_factor, old / s.high_freq_factor
    for i, f in ipairs(out) do
      local wl = 2 * math.pi / f
      if wl > low_wl then
        out[i] = f / s.factor
      elseif wl >= high_wl then
        local smooth = (old / wl - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor)
        out[i] = (1 - smooth) * f / s.factor + smooth * f
      end
    end
  end
  return out
end

-- The same as a (head_dim / 2) f32 tensor.
function M.inv_freq(c)
  return tensor.from(M.inv_freq_list(c), {dtype = "f32"})
end

-- The config.json table for a normalised config (dtype: "float32" | "bfloat16" | "float16").
function M.to_hf(c, dtype)
  local arch = ({qwen2 = "Qwen2ForCausalLM", mistral = "MistralForCausalLM"})[c.model_type] or "LlamaForCausalLM"
  local model_type = ({qwen2 = true, mistral = true})[c.model_type] and c.model_type or "llama"
  local out = {
    architectures = {arch}, model_type = model_type, torch_dtype = dtype, dtype = dtype,
    vocab_size = c.vocab_size, hidden_size = c.hidden_size, intermediate_size = c.intermediate_size,
    num_hidden_layers = c.num_hidden_layers, num_attention_heads = c.num_attention_heads,
    num_key_value_heads = c.num_key_value_heads, head_dim = c.head_dim, rms_norm_eps = c.rms_norm_eps,
    rope_theta = c.rope_theta, tie_word_embeddings = c.tie_word_embeddings,
    max_position_embeddings = c.max_position_embeddings, initializer_range = c.initializer_range,
    hidden_act = "silu", bos_token_id = c.bos_token_id, eos_token_id = c.eos_token_id,
    pad_token_id = c.pad_token_id,
  }
  if model_type == "llama" then
    out.attention_bias, out.mlp_bias = c.attention_bias, c.mlp_bias
  elseif model_type == "mistral" then
    -- an absent key would read as transformers' default window (4096)
    out.sliding_window = c.sliding_window or require("cjson").null
  elseif c.sliding_window then
    out.use_sliding_window, out.sliding_window, out.layer_types = true, c.sliding_window, c.layer_types
  else
    out.use_sliding_window = false
  end
  if c.rope_scaling then
    local s = {}
    for k, v in pairs(c.rope_scaling) do s[k] = v end
    out.rope_scaling = s
  end
  return out
end

return M
