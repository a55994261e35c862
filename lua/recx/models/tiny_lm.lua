-- recx.models.tiny_lm — a tiny Llama-shaped causal language model for recipes, tests, fixtures
-- and benchmarks: token embedding (optional dropout), n pre-norm blocks (RMSNorm -> grouped-query
-- attention with rotary positions and a causal mask -> residual; RMSNorm -> SwiGLU MLP ->
-- residual), a final RMSNorm and a head tied to the embedding or not.
--
-- Parameter names follow Hugging Face's LlamaForCausalLM ("model.embed_tokens.weight",
-- "model.layers.0.self_attn.q_proj.weight", "model.layers.0.mlp.gate_proj.weight",
-- "model.norm.weight", "lm_head.weight"), so a fixture script can load the same weights into
-- transformers. Use:
--   local TinyLM = require "recx.models.tiny_lm"
--   local lm = TinyLM({vocab = 16, dim = 32, layers = 2, heads = 4, kv_heads = 2, hidden = 64,
--                      seed = 1})
--   local logits = lm(ids)                   -- ids (B, T) i64 -> (B, T, vocab)
--   local loss = lm:loss(ids, targets)       -- mean cross-entropy, targets (B, T), -100 ignored
local recx = require "recx"
local nn = recx.nn
local F = nn.functional
local tensor = recx.tensor

local Attention = nn.Module:extend("LlamaAttention")

function Attention:init(cfg, g)
  self.heads, self.kv_heads, self.head_dim = cfg.heads, cfg.kv_heads, cfg.dim // cfg.heads
  local lin = {bias = false, dtype = cfg.dtype, generator = g}
  self:add_module("q_proj", nn.Linear(cfg.dim, self.heads * self.head_dim, lin))
  self:add_module("k_proj", nn.Linear(cfg.dim, self.kv_heads * self.head_dim, lin))
  self:add_module("v_proj", nn.Linear(cfg.dim, self.kv_heads * self.head_dim, lin))
  self:add_module("o_proj", nn.Linear(self.heads * self.head_dim, cfg.dim, lin))
end

-- x (B, T, C), cos/sin (T, D) -> (B, T, C)
function Attention:forward(x, cos, sin)
  local B, Tn = x:size(1), x:size(2)
  local function heads(proj, n)
    return proj(x):view(B, Tn, n, self.head_dim):transpose(2, 3) -- (B, n, T, D)
  end
  local q = F.rope(heads(self.q_proj, self.heads), cos, sin)
  local k = F.rope(heads(self.k_proj, self.kv_heads), cos, sin)
  local v = heads(self.v_proj, self.kv_heads)
  local a = F.attention(q, k, v, {causal = true}) -- (B, H, T, D)
  return self.o_proj(a:transpose(2, 3):reshape(B, Tn, self.heads * self.head_dim))
end

local MLP = nn.Module:extend("LlamaMLP")

function MLP:init(cfg, g)
  local lin = {bias = false, dtype = cfg.dtype, generator = g}
  self:add_module("gate_proj", nn.Linear(cfg.dim, cfg.hidden, lin))
  self:add_module("up_proj", nn.Linear(cfg.dim, cfg.hidden, lin))
  self:add_module("down_proj", nn.Linear(cfg.hidden, cfg.dim, lin))
end

function MLP:forward(x)
  return self.down_proj(F.swiglu(self.gate_proj(x), self.up_proj(x)))
end

local Block = nn.Module:extend("LlamaDecoderLayer")

function Block:init(cfg, g)
  local norm = {eps = cfg.eps, dtype = cfg.dtype}
  self:add_module("self_attn", Attention(cfg, g))
  self:add_module("mlp", MLP(cfg, g))
  self:add_module("input_layernorm", nn.RMSNorm(cfg.dim, norm))
  self:add_module("post_attention_layernorm", nn.RMSNorm(cfg.dim, norm))
end

function Block:forward(x, cos, sin)
  local h = x + self.self_attn(self.input_layernorm(x), cos, sin)
  return h + self.mlp(self.post_attention_layernorm(h))
end

local Body = nn.Module:extend("LlamaModel")

function Body:init(cfg, g)
  self:add_module("embed_tokens", nn.Embedding(cfg.vocab, cfg.dim, {dtype = cfg.dtype, generator = g}))
  if cfg.dropout > 0 then
    self:add_module("drop", nn.Dropout(cfg.dropout, {generator = tensor.generator(cfg.seed + 1)}))
  end
  local layers = nn.ModuleList()
  for _ = 1, cfg.layers do layers:append(Block(cfg, g)) end
  self:add_module("layers", layers)
  self:add_module("norm", nn.RMSNorm(cfg.dim, {eps = cfg.eps, dtype = cfg.dtype}))
  self.inv_freq = F.rope_inv_freq(cfg.dim // cfg.heads, cfg.rope_theta)
  self.dtype = cfg.dtype
  self.rope_cache = {} -- T -> {cos, sin}: not parameters, recomputed from the config
end

-- cos, sin (T, D) on the device and in the dtype of the embedding weight (the model may have
-- been moved with :to()); computed on the CPU once per length and device.
function Body:rope(Tn)
  local w = self.embed_tokens.weight
  local key = Tn .. "@" .. w:device() .. "/" .. w:dtype()
  local c = self.rope_cache[key]
  if not c then
    local cos, sin = F.rope_tables(tensor.arange(Tn), self.inv_freq, w:dtype())
    c = {cos:to(w:device()), sin:to(w:device())}
    self.rope_cache[key] = c
  end
  return c[1], c[2]
end

function Body:forward(ids)
  local cos, sin = self:rope(ids:size(2))
  local x = self.embed_tokens(ids)
  if self.drop then x = self.drop(x) end
  for i = 1, #self.layers do x = self.layers[i](x, cos, sin) end
  return self.norm(x)
end

local TinyLM = nn.Module:extend("TinyLM")

local defaults = {vocab = 16, dim = 32, layers = 2, heads = 4, kv_heads = 2, hidden = 64, eps = 1e-5,
  rope_theta = 10000.0, tie = false, dtype = "f32", seed = 0, dropout = 0}

-- cfg: vocab, dim, layers, heads, kv_heads, hidden, eps, rope_theta, tie (head = embedding),
-- dtype, seed (all parameters are drawn from one generator with this seed), dropout (on the
-- embeddings, default 0; its generator, seeded seed + 1, is lm.model.drop.generator: save it
-- with checkpoints), init_std (when given: every Linear and the embedding are redrawn
-- N(0, init_std) as Hugging Face does).
function TinyLM:init(cfg)
  cfg = cfg or {}
  local c = {}
  for k, v in pairs(defaults) do c[k] = cfg[k] == nil and v or cfg[k] end
  c.init_std = cfg.init_std
  assert(c.dim % c.heads == 0 and c.heads % c.kv_heads == 0, "TinyLM: heads must divide dim, kv_heads heads")
  self.cfg = c
  local g = tensor.generator(c.seed)
  self:add_module("model", Body(c, g))
  if not c.tie then
    self:add_module("lm_head", nn.Linear(c.dim, c.vocab, {bias = false, dtype = c.dtype, generator = g}))
  end
  if c.init_std then
    for _, e in ipairs(self:named_parameters()) do
      if not e[1]:find("norm") then nn.init.normal_(e[2], 0, c.init_std, g) end
    end
  end
end

-- ids (B, T) integer -> logits (B, T, vocab)
function TinyLM:forward(ids)
  local h = self.model(ids)
  local w = self.cfg.tie and self.model.embed_tokens.weight or self.lm_head.weight
  return F.linear(h, w)
end

-- Mean next-token cross-entropy of ids against targets (B, T) (-100: ignored).
function TinyLM:loss(ids, targets)
  local logits = self(ids)
  local V = self.cfg.vocab
  return F.cross_entropy(logits:reshape(-1, V), targets:reshape(-1))
end

return TinyLM
