-- recx.llm.llama — the Llama family of causal language models (Llama 2/3, Mistral, Qwen2,
-- SmolLM2, llama2.c checkpoints) as recx.nn modules shaped like Hugging Face's LlamaForCausalLM.
--
-- Owns: the module tree and its forward pass: token embedding (+ optional injected vectors
-- added at flat positions, SPEC 5.2) -> n pre-norm decoder layers (RMSNorm -> grouped-query
-- attention with rotate-half RoPE, causal, with an optional key padding mask, KV cache and
-- sliding window (Mistral/Qwen2: a query at slot t sees keys at slots t - w < s <= t, slots
-- counted over the cached + new positions, padding included, as transformers does) ->
-- residual; RMSNorm -> SwiGLU MLP -> residual) -> final RMSNorm -> lm_head (tied to the
-- embedding or not); the loss with the causal shift; resizing the vocabulary; and the entry
-- points for loading (HF folder, GGUF, llama2.c .bin) and saving (HF folder, GGUF), which
-- live in recx.llm.load_hf / load_gguf / save_hf / save_gguf / llama2c.
--
-- Parameter names are Hugging Face's: "model.embed_tokens.weight",
-- "model.layers.0.self_attn.q_proj.weight" (q/k/v/o_proj, mlp.gate/up/down_proj are nn.Linear
-- modules), "model.layers.0.input_layernorm.weight", "model.norm.weight", "lm_head.weight". A
-- tied model's lm_head is an nn.Linear holding the embedding's weight tensor (one tensor under
-- two names, as in PyTorch). The embedding's padding_idx is config.pad_token_id, as in HF
-- (that row receives no gradient).
-- Use:
--   local llama = require "recx.llm.llama"
--   local m = llama.load("models/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
--   local logits = m:forward(ids)                          -- (B, T) i64 -> (B, T, V) f32
--   local cache = m:new_cache(1, 256)
--   local last = m:forward(ids, {cache = cache, logits_at = "last"})   -- (B, V)
local recx = require "recx"
local C = require "recx.llm.config"
local Cache = require "recx.llm.kv_cache"
local nn = recx.nn
local F = nn.functional
local tensor = recx.tensor

local M = {}

-- A generator for the throw-away 1x1 draws of the module constructors (never the default one).
local scratch = tensor.generator(0)

-- An nn.Linear (in -> out) holding uninitialised tensors: the 1x1 layer nn.Linear builds is
-- resized by replacing its parameter fields (parameters are plain fields of modules).
local function linear(in_f, out_f, bias, topts)
  local m = nn.Linear(1, 1, {bias = false, dtype = topts.dtype, device = topts.device, generator = scratch})
  m.in_features, m.out_features = in_f, out_f
  m.weight = tensor.empty({out_f, in_f}, topts):requires_grad(true)
  if bias then m:register_parameter("bias", tensor.empty({out_f}, topts)) end
  return m
end

local function embedding(n, dim, padding_idx, topts)
  local m = nn.Embedding(1, 1, {dtype = topts.dtype, device = topts.device, generator = scratch})
  m.num_embeddings, m.dim, m.padding_idx = n, dim, padding_idx
  m.weight = tensor.empty({n, dim}, topts):requires_grad(true)
  return m
end

-- ---- modules ------------------------------------------------------------------------------

local Attention = nn.Module:extend("LlamaAttention")

function Attention:init(c, topts, l)
  self.heads, self.kv_heads, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
  self.sliding_window = C.layer_window(c, l) -- nil: full causal attention
  local qkv_bias = c.attention_bias or c.qkv_bias
  local H, G, D = self.heads, self.kv_heads, self.head_dim
  self:add_module("q_proj", linear(c.hidden_size, H * D, qkv_bias, topts))
  self:add_module("k_proj", linear(c.hidden_size, G * D, qkv_bias, topts))
  self:add_module("v_proj", linear(c.hidden_size, G * D, qkv_bias, topts))
  self:add_module("o_proj", linear(H * D, c.hidden_size, c.attention_bias, topts))
end

-- x (B, T, C); cos, sin (T, D) or (B, T, D); ctx {cache, layer, key_padding, window_mask} ->
-- (B, T, C)
function Attention:forward(x, cos, sin, ctx)
  local B, Tn, D = x:size(1), x:size(2), self.head_dim
  local function heads(proj, n)
    return proj(x):view(B, Tn, n, D):transpose(2, 3) -- (B, n, T, D)
  end
  local q = F.rope(heads(self.q_proj, self.heads), cos, sin)
  local k = F.rope(heads(self.k_proj, self.kv_heads), cos, sin)
  local v = heads(self.v_proj, self.kv_heads)
  if ctx.cache then k, v = ctx.cache:update(ctx.layer, k, v) end -- (B, G, past + T, D)
  local w = self.sliding_window
  local a = F.attention(q, k, v, {causal = true, key_padding = ctx.key_padding,
    additive_mask = w and ctx.window_mask(w, k:size(3))}) -- (B, H, T, D)
  return self.o_proj(a:transpose(2, 3):reshape(B, Tn, self.heads * D))
end

local MLP = nn.Module:extend("LlamaMLP")

function MLP:init(c, topts)
  self:add_module("gate_proj", linear(c.hidden_size, c.intermediate_size, c.mlp_bias, topts))
  self:add_module("up_proj", linear(c.hidden_size, c.intermediate_size, c.mlp_bias, topts))
  self:add_module("down_proj", linear(c.intermediate_size, c.hidden_size, c.mlp_bias, topts))
end

function MLP:forward(x)
  return self.down_proj(F.swiglu(self.gate_proj(x), self.up_proj(x)))
end

local Layer = nn.Module:extend("LlamaDecoderLayer")

function Layer:init(c, topts, l)
  local norm = {eps = c.rms_norm_eps, dtype = topts.dtype, device = topts.device}
  self:add_module("self_attn", Attention(c, topts, l))
  self:add_module("mlp", MLP(c, topts))
  self:add_module("input_layernorm", nn.RMSNorm(c.hidden_size, norm))
  self:add_module("post_attention_layernorm", nn.RMSNorm(c.hidden_size, norm))
end

function Layer:forward(x, cos, sin, ctx)
  local h = x + self.self_attn(self.input_layernorm(x), cos, sin, ctx)
  return h + self.mlp(self.post_attention_layernorm(h))
end

local Body = nn.Module:extend("LlamaModel")

function Body:init(c, topts)
  local pad = c.pad_token_id
  if math.type(pad) ~= "integer" or pad < 0 or pad >= c.vocab_size then pad = nil end
  self:add_module("embed_tokens", embedding(c.vocab_size, c.hidden_size, pad, topts))
  local layers = nn.ModuleList()
  for l = 1, c.num_hidden_layers do layers:append(Layer(c, topts, l)) end
  self:add_module("layers", layers)
  self:add_module("norm", nn.RMSNorm(c.hidden_size, {eps = c.rms_norm_eps, dtype = topts.dtype, device = topts.device}))
end

local LM = nn.Module:extend("LlamaForCausalLM")
M.LlamaForCausalLM = LM

function LM:init(c, topts)
  self.config = c
  self:add_module("model", Body(c, topts))
  if c.tie_word_embeddings then
    local head = linear(1, 1, false, topts)
    head.in_features, head.out_features = c.hidden_size, c.vocab_size
    head.weight = self.model.embed_tokens.weight
    self:add_module("lm_head", head)
  else
    self:add_module("lm_head", linear(c.hidden_size, c.vocab_size, false, topts))
  end
  self.inv_freq = C.inv_freq_list(c)
end

-- ---- construction -------------------------------------------------------------------------

local function dtype_of(opts)
  local d = opts.dtype or "f32"
  local canon = ({f32 = "f32", float32 = "f32", bf16 = "bf16", bfloat16 = "bf16", f16 = "f16",
    float16 = "f16", f64 = "f64", float64 = "f64"})[d]
  if not canon then error("llama: option dtype: expected \"f32\", \"bf16\", \"f16\" or \"f64\", got " .. tostring(d), 3) end
  return canon
end

-- A new model from an HF-style config table (normalised by recx.llm.config). opts: dtype
-- ("f32"), device ("cpu"), generator (the init draws), init (default true: weights N(0,
-- initializer_range) as HF initialises them, biases 0, norms 1; false leaves them unset for a
-- loader to fill). A checkpoint from recx.llm.llama2c.load is accepted too.
function M.new(config, opts)
  if type(config) == "table" and config.weights and config.config then
    return require("recx.llm.llama2c").to_model(config, opts)
  end
  opts = nn.Module.check_options("llama.new", opts, {"dtype", "device", "generator", "init"})
  local c = C.normalize(config)
  local topts = {dtype = dtype_of(opts), device = opts.device}
  local m = LM(c, topts)
  if opts.init ~= false then
    local std = c.initializer_range
    recx.no_grad(function()
      for _, e in ipairs(m:named_parameters()) do
        local name, p = e[1], e[2]
        if name:find("norm") then
          p:fill_(1)
        elseif name:find("bias", 1, true) then
          p:fill_(0)
        else
          nn.init.normal_(p, 0, std, opts.generator)
        end
      end
      local pad = m.model.embed_tokens.padding_idx
      if pad then m.model.embed_tokens.weight:select(1, pad + 1):fill_(0) end
    end)
  end
  return m
end

-- Replaces the parameter `name` (an HF name) by tensor t (not copied; made a leaf that requires
-- grad). The shape must match. Used by the loaders.
function M.set_parameter(m, name, t)
  local mod, field = m, nil
  local parts = {}
  for p in name:gmatch("[^.]+") do parts[#parts + 1] = p end
  for i = 1, #parts - 1 do
    mod = rawget(mod, parts[i])
    if mod == nil then error(string.format("llama: no parameter named '%s'", name), 0) end
  end
  field = parts[#parts]
  local old = rawget(mod, field)
  if old == nil or mod._kinds[field] ~= "parameter" then error(string.format("llama: no parameter named '%s'", name), 0) end
  local want, got = old:shape(), t:shape()
  if table.concat(want, ",") ~= table.concat(got, ",") then
    error(string.format("llama: '%s': expected shape (%s), got (%s)", name, table.concat(want, ", "), table.concat(got, ", ")), 0)
  end
  rawset(mod, field, t:requires_grad(true))
end

-- The state dict a file must provide: {name, shape} in model order (a tied lm_head left out).
function M.expected_tensors(m)
  local out = {}
  local tied = m.config.tie_word_embeddings
  for _, e in ipairs(m:named_parameters()) do
    if not (tied and e[1] == "lm_head.weight") then out[#out + 1] = {e[1], e[2]:shape()} end
  end
  return out
end

-- Re-points a tied lm_head at the embedding's current weight (after a loader replaced it).
function M.retie(m)
  if m.config.tie_word_embeddings then m.lm_head.weight = m.model.embed_tokens.weight end
end

-- ---- forward ------------------------------------------------------------------------------

local forward_opts = {"attention_mask", "position_ids", "cache", "inject", "output_hidden", "logits_at"}

local function fail(fname, fmt, ...) error(fname .. ": " .. string.format(fmt, ...), 0) end

local function shape_str(t) return "(" .. table.concat(t:shape(), ", ") .. ")" end

local function check_ids(fname, ids)
  if not tensor.is_tensor(ids) or ids:dim() ~= 2 or (ids:dtype() ~= "i64" and ids:dtype() ~= "i32") then
    fail(fname, "argument #2: expected ids (B, T) i64, got %s", tensor.is_tensor(ids) and (ids:dtype() .. " " .. shape_str(ids)) or type(ids))
  end
  if ids:size(2) < 1 then fail(fname, "argument #2: expected at least one position, got (%d, 0)", ids:size(1)) end
end

-- The attention mask as (B, S) bool (true = real token), from bool or integer 0/1 data.
local function bool_mask(fname, mask, B, S, device)
  if not tensor.is_tensor(mask) or mask:dim() ~= 2 or mask:size(1) ~= B or mask:size(2) ~= S then
    fail(fname, "attention_mask: expected shape (%d, %d) (batch, cached + new positions), got %s", B, S,
      tensor.is_tensor(mask) and shape_str(mask) or type(mask))
  end
  if mask:dtype() ~= "bool" then mask = mask:ne(0) end
  return mask:to(device)
end

-- Position ids (B, T) i64 from a (B, S) bool mask as HF's generate derives them: the count of
-- real tokens before each position (padding gets 1), for the last T positions.
local function positions_from_mask(mask, Tn)
  local S = mask:size(2)
  local m = mask:to("cpu"):to("i64")
  local pos = m:cumsum(2) - 1
  pos = tensor.where(mask:to("cpu"), pos, 1)
  return pos:narrow(2, S - Tn + 1, Tn)
end

-- inject = {index = (N) i32/i64 flat positions in [0, B*T), values = (N, hidden)} -> the
-- (B, T, C) tensor to add to the embeddings (differentiable w.r.t. values).
local function injected(fname, inj, B, Tn, Cdim, like)
  if type(inj) ~= "table" then fail(fname, "inject: expected {index =, values =}, got %s", type(inj)) end
  local idx, val = inj.index, inj.values
  if not tensor.is_tensor(idx) or idx:dim() ~= 1 or (idx:dtype() ~= "i64" and idx:dtype() ~= "i32") then
    fail(fname, "inject.index: expected a 1-D i64 tensor of flat positions b*T + t")
  end
  local N = idx:numel()
  if not tensor.is_tensor(val) or val:dim() ~= 2 or val:size(1) ~= N or val:size(2) ~= Cdim then
    fail(fname, "inject.values: expected shape (%d, %d), got %s", N, Cdim, tensor.is_tensor(val) and shape_str(val) or type(val))
  end
  if val:dtype() ~= like:dtype() or val:device() ~= like:device() then
    fail(fname, "inject.values: expected %s on %s (the model's), got %s on %s", like:dtype(), like:device(), val:dtype(), val:device())
  end
  if N == 0 then return nil end
  local lo, hi = idx:min():item(), idx:max():item()
  if lo < 0 or hi >= B * Tn then
    fail(fname, "inject.index: positions must lie in [0, %d) (B*T = %d*%d), got [%d, %d]", B * Tn, B, Tn, lo, hi)
  end
  local index = idx:to("i64"):to(like:device()):view(N, 1):expand(N, Cdim)
  local blank = tensor.zeros({B * Tn, Cdim}, {dtype = like:dtype(), device = like:device()})
  return blank:scatter_add(1, index, val):view(B, Tn, Cdim)
end

-- A function (w, S) -> the additive mask (1, 1, T, S) that hides from the query at slot
-- past + i the keys at slots s <= past + i - w (-inf; 0 elsewhere, the causal mask does the rest),
-- or nil when S <= w (no key is that far). One mask per window size, built on first use.
local function window_masks(past, Tn, dtype, device)
  local made = {}
  return function(w, S)
    if S <= w then return nil end
    if not made[w] then
      local far = (tensor.arange(past, past + Tn):view(Tn, 1) - tensor.arange(0, S):view(1, S)):ge(w) -- (T, S)
      made[w] = tensor.zeros({Tn, S}, {dtype = dtype}):masked_fill(far, -math.huge):view(1, 1, Tn, S):to(device)
    end
    return made[w]
  end
end

-- The final-normed hidden states (B, T, C) for ids (B, T); opts as forward's.
function LM:hidden_states(ids, opts, fname)
  fname = fname or "hidden_states"
  check_ids(fname, ids)
  opts = nn.Module.check_options(fname, opts, forward_opts)
  local c = self.config
  local B, Tn = ids:size(1), ids:size(2)
  local emb = self.model.embed_tokens.weight
  local device, dtype = emb:device(), emb:dtype()
  local cache = opts.cache
  if cache ~= nil then
    if not Cache.is_cache(cache) then fail(fname, "cache: expected a cache from new_cache()") end
    cache:check_append(B, Tn)
  end
  local past = cache and cache:length() or 0
  local S = past + Tn
  -- the mask of every position so far (a cache remembers it between calls)
  local mask
  if opts.attention_mask ~= nil then
    mask = bool_mask(fname, opts.attention_mask, B, S, device)
  elseif cache and cache.mask then
    mask = tensor.cat({cache.mask, tensor.full({B, Tn}, true, {device = device})}, 2)
  end
  if cache then cache.mask = mask end
  local key_padding = nil
  if mask and not mask:all():item() then key_padding = mask end
  local pos = opts.position_ids
  if pos ~= nil then
    if not tensor.is_tensor(pos) or pos:dim() ~= 2 or pos:size(1) ~= B or pos:size(2) ~= Tn then
      fail(fname, "position_ids: expected shape (%d, %d), got %s", B, Tn, tensor.is_tensor(pos) and shape_str(pos) or type(pos))
    end
    pos = pos:to("cpu")
  elseif mask then
    pos = positions_from_mask(mask, Tn)
  else
    pos = tensor.arange(past, S)
  end
  local inv = tensor.from(self.inv_freq, {dtype = "f32"})
  local cos, sin = F.rope_tables(pos, inv, dtype)
  cos, sin = cos:to(device), sin:to(device)
  local x = self.model.embed_tokens(ids:to(device))
  if opts.inject ~= nil then
    local add = injected(fname, opts.inject, B, Tn, c.hidden_size, emb)
    if add then x = x + add end
  end
  local window_mask = window_masks(past, Tn, dtype, device)
  for l = 1, #self.model.layers do
    x = self.model.layers[l](x, cos, sin, {cache = cache, layer = l, key_padding = key_padding, window_mask = window_mask})
  end
  if cache then cache:advance(Tn) end
  return self.model.norm(x)
end

local function head(self, h)
  local logits = self.lm_head(h)
  if logits:dtype() ~= "f32" then logits = logits:to("f32") end
  return logits
end

-- ids (B, T) i64 -> logits (B, T, V) f32, or (B, V) with logits_at = "last". opts:
-- attention_mask (B, S) bool or 0/1 integers (S = cached + T; left padding), position_ids
-- (B, T) (default: from the mask as HF's generate does, else past .. past + T - 1), cache (from
-- new_cache), inject {index, values}, output_hidden (also return the hidden states (B, T, C)),
-- logits_at ("last": only the last position goes through lm_head).
function LM:forward(ids, opts)
  opts = opts or {}
  local h = self:hidden_states(ids, opts, "forward")
  local logits
  if opts.logits_at == "last" then
    logits = head(self, h:select(2, -1))
  elseif opts.logits_at == nil or opts.logits_at == "all" then
    logits = head(self, h)
  else
    fail("forward", "logits_at: expected \"last\" or \"all\", got %s", tostring(opts.logits_at))
  end
  if opts.output_hidden then return logits, h end
  h:release()
  return logits
end

-- Mean next-token cross-entropy (f32): position t predicts labels[t + 1] (labels (B, T)
-- aligned with ids, as HF's; -100 entries ignored). opts as forward's (no cache needed).
function LM:loss(ids, labels, opts)
  check_ids("loss", ids)
  if not tensor.is_tensor(labels) or labels:dim() ~= 2 or labels:size(1) ~= ids:size(1) or labels:size(2) ~= ids:size(2) then
    fail("loss", "argument #3: expected labels of the ids' shape %s, got %s", shape_str(ids),
      tensor.is_tensor(labels) and shape_str(labels) or type(labels))
  end
  local Tn = ids:size(2)
  if Tn < 2 then fail("loss", "argument #2: expected at least 2 positions for a shifted loss, got 1") end
  local h = self:hidden_states(ids, opts, "loss")
  local logits = head(self, h:narrow(2, 1, Tn - 1))
  local V = logits:size(3)
  local target = labels:narrow(2, 2, Tn - 1):to("i64"):to(logits:device())
  return F.cross_entropy(logits:reshape(-1, V), target:reshape(-1))
end

-- A KV cache for batch size B and up to max_len positions (model dtype and device).
function LM:new_cache(B, max_len)
  local c = self.config
  local w = self.model.embed_tokens.weight
  return Cache.new(c.num_hidden_layers, B, c.num_key_value_heads, max_len, c.head_dim,
    {dtype = w:dtype(), device = w:device()})
end

-- Resizes the vocabulary to n rows: the first min(n, V) rows are kept, new rows drawn N(0,
-- initializer_range) (lm_head's too when untied). opts.generator drives the draws. Returns self.
function LM:resize_token_embeddings(n, opts)
  opts = nn.Module.check_options("resize_token_embeddings", opts, {"generator", "std"})
  if math.type(n) ~= "integer" or n < 1 then fail("resize_token_embeddings", "argument #2: expected a positive integer, got %s", tostring(n)) end
  local c = self.config
  local std = opts.std or c.initializer_range
  local function grown(old)
    local t = tensor.empty({n, old:size(2)}, {dtype = old:dtype(), device = old:device()})
    recx.no_grad(function()
      local keep = math.min(n, old:size(1))
      t:narrow(1, 1, keep):copy_(old:narrow(1, 1, keep))
      if n > keep then nn.init.normal_(t:narrow(1, keep + 1, n - keep), 0, std, opts.generator) end
    end)
    return t:requires_grad(true)
  end
  local emb = self.model.embed_tokens
  emb.weight = grown(emb.weight)
  emb.num_embeddings = n
  if emb.padding_idx and emb.padding_idx >= n then emb.padding_idx = nil end
  if c.tie_word_embeddings then
    self.lm_head.weight = emb.weight
  else
    self.lm_head.weight = grown(self.lm_head.weight)
  end
  self.lm_head.out_features = n
  c.vocab_size = n
  return self
end

-- ---- files --------------------------------------------------------------------------------

-- Loads a model: an HF folder (config.json + model.safetensors or an index of shards), a .gguf
-- file or a llama.c .bin. opts: dtype ("f32" | "bf16" | "f16"), device. The model's `config`
-- and `source` (the path) are set.
function M.load(path, opts)
  if type(path) ~= "string" then error("llama.load: argument #1: expected a path, got " .. type(path), 2) end
  opts = nn.Module.check_options("llama.load", opts, {"dtype", "device"})
  local m
  local probe = io.open(path .. "/config.json", "rb")
  if probe then
    probe:close()
    m = require("recx.llm.load_hf").load(path, opts)
  elseif path:match("%.gguf$") then
    m = require("recx.llm.load_gguf").load(path, opts)
  elseif path:match("%.bin$") then
    m = require("recx.llm.llama2c").load_model(path, opts)
  else
    error("llama.load: " .. path .. ": expected an HF folder with config.json (not found), a .gguf or a "
      .. "llama2.c .bin file", 2)
  end
  m.source = path
  return m
end

-- Writes an HF folder (config.json, model.safetensors, and the tokenizer files of
-- opts.tokenizer_dir); opts.dtype picks the stored dtype (default: the model's).
function LM:save_hf(dir, opts)
  return require("recx.llm.save_hf").save(self, dir, opts)
end

-- Writes a GGUF file: opts.type "F32" | "F16" | "BF16", opts.metadata (extra {key, type, value}
-- entries, e.g. the tokenizer's), opts.name.
function LM:save_gguf(path, opts)
  return require("recx.llm.save_gguf").save(self, path, opts)
end

return M
