-- recx.models.sasrec — UniRec's SASRec (SPEC 3.1) as recx.nn modules: the user tower
--   x = Dropout(LayerNorm(ItemEmb[seq] (padding id 0) + PosEmb[0..L-1]))
--   2 x [h = LN(x + Dropout(Dense(MHA(x))))    (dropout on the attention probabilities too)
--        x = LN(h + Dropout(W2 silu(W1 h + b1) + b2))]
--   user = x[:, L]  (the hidden state at the last position of the left-padded window)
-- scored by dot products with every row of the item table, trained with the full-softmax loss
-- (logsumexp over all n_items, pad id 0 included, minus the target's score; mean over rows).
-- The attention mask is additive, (1 - m) * -10000, with m = key is not padding and key <= query.
--
-- Parameter names match UniRec (and tests/fixtures/sasrec_block.safetensors): item_embedding,
-- position_embedding (max_len + 1 rows), emb_layernorm, layers.N.attention.{query,key,value,dense,
-- layernorm}, layers.N.ffn.{dense1,dense2,layernorm}. Init: every Linear and embedding weight
-- N(0, 0.02), biases 0, LayerNorm 1 / 0, the padding row 0. Dropout runs only in train mode, drawn
-- from one generator (model.generator, seeded seed + 1: save it with checkpoints).
-- Use:
--   local SASRec = require "recx.models.sasrec"
--   local m = SASRec({n_items = 1865, seed = 3418})
--   local user = m:user_embedding(seq)    -- seq (B, L) i64 left-padded -> (B, dim)
--   local scores = m:scores(seq)          -- (B, n_items)
--   local loss = m:loss(seq, targets)     -- targets (B) i64 -> scalar
--
-- The "paper" variant (SASRec.Paper, or SASRec.build({variant = "paper", ...})) is the
-- architecture of the SASRec paper as the authors' TensorFlow code builds it (kang205/SASRec,
-- read for facts only), used by recipes/sasrec_paper.lua to check recx against the paper:
--   x = Dropout(ItemEmb[seq] * sqrt(dim) + PosEmb[0..L-1]) * m          (m: 1 where seq != 0)
--   blocks x [q = LN(x); x = q + Attn(Q = q Wq + bq, K = x Wk + bk, V = x Wv + bv)
--             (causal, padded keys masked, dropout on the probabilities, no output projection)
--             h = LN(x); x = (h + Dropout(W2 Dropout(relu(W1 h + b1)) + b2)) * m]
--   hidden = LN(x)       (LayerNorm eps 1e-8 everywhere)
-- Init: embeddings and Linear weights Xavier-uniform (TensorFlow's default), biases 0, LayerNorm
-- 1 / 0, padding row 0. Training: binary cross-entropy of each position's next item against one
-- sampled negative (m:bce_loss). Items are scored with the unscaled item table.
-- Both variants have m:user_embedding (= m:user_vectors), m:scores, m:item_vectors() and m.cfg, and
-- are saved and rebuilt through recx.rec.model_file (safetensors + config metadata).
local recx = require "recx"
local nn = recx.nn
local F = nn.functional
local tensor = recx.tensor

local PAD, MASK_VALUE = 0, -10000.0

local Attention = nn.Module:extend("SASRecAttention")

function Attention:init(cfg, g, drop_g)
  self.heads, self.head_dim, self.attn_p, self.generator = cfg.heads, cfg.dim // cfg.heads, cfg.attn_dropout, drop_g
  for _, n in ipairs({"query", "key", "value", "dense"}) do
    self:add_module(n, nn.Linear(cfg.dim, cfg.dim, {generator = g}))
  end
  self:add_module("drop", nn.Dropout(cfg.hidden_dropout, {generator = drop_g}))
  self:add_module("layernorm", nn.LayerNorm(cfg.dim, {eps = cfg.eps}))
end

-- x (B, L, C), mask (B, 1, L, L) additive -> (B, L, C)
-- On the CPU the fused attention op; on a GPU the same attention as batched products, softmax and
-- dropout, because the fused CUDA kernel tiles 64 queries with head dims of 64 and runs SPEC 3.1's
-- shape (L 9, head dim 16, 16 heads) 4.6x slower than the composed ops (fwd+bwd 3.6 ms against
-- 0.78 ms at B 2048 on the H200; docs/benchmarks.md). Both draw the same dropout mask: the fused
-- op zeroes probability (b, h, t, s) at Philox counter offset + ((b H + h) L + t) L + s, which is
-- dropout's row-major index over the contiguous (B, H, L, L) probabilities, and both reserve
-- B H L L counters; they differ in rounding only. Attention.composed = true / false forces one
-- path (tests); nil picks by device.
Attention.composed = nil

function Attention:forward(x, mask)
  local B, L, C = x:size(1), x:size(2), x:size(3)
  local function heads(proj)
    return proj(x):view(B, L, self.heads, self.head_dim):transpose(2, 3) -- (B, H, L, D)
  end
  local q, k, v = heads(self.query), heads(self.key), heads(self.value)
  local p_drop = self.training and self.attn_p or 0
  local ctx
  local composed = Attention.composed
  if composed == nil then composed = x:device() ~= "cpu" end
  if not composed then
    ctx = F.attention(q, k, v, {additive_mask = mask, dropout = p_drop, generator = self.generator})
  else
    local probs = (q:matmul(k:transpose(3, 4)) * (1 / math.sqrt(self.head_dim)) + mask):softmax(4) -- (B, H, L, L)
    if p_drop > 0 then probs = F.dropout(probs, p_drop, true, self.generator) end
    ctx = probs:matmul(v) -- (B, H, L, D)
  end
  ctx = ctx:transpose(2, 3):reshape(B, L, C)
  return self.layernorm(x + self.drop(self.dense(ctx)))
end

local FFN = nn.Module:extend("SASRecFFN")

function FFN:init(cfg, g, drop_g)
  self:add_module("dense1", nn.Linear(cfg.dim, cfg.inner, {generator = g}))
  self:add_module("dense2", nn.Linear(cfg.inner, cfg.dim, {generator = g}))
  self:add_module("drop", nn.Dropout(cfg.hidden_dropout, {generator = drop_g}))
  self:add_module("layernorm", nn.LayerNorm(cfg.dim, {eps = cfg.eps}))
end

function FFN:forward(h)
  return self.layernorm(h + self.drop(self.dense2(F.silu(self.dense1(h)))))
end

local Layer = nn.Module:extend("SASRecLayer")

function Layer:init(cfg, g, drop_g)
  self:add_module("attention", Attention(cfg, g, drop_g))
  self:add_module("ffn", FFN(cfg, g, drop_g))
end

function Layer:forward(x, mask)
  return self.ffn(self.attention(x, mask))
end

local SASRec = nn.Module:extend("SASRec")

local defaults = {dim = 256, layers = 2, heads = 16, inner = 512, max_len = 9, eps = 1e-10,
  hidden_dropout = 0.4954053313841075, attn_dropout = 0.1871672079253271, seed = 0}

-- The configuration of a variant: defaults overridden by cfg, base fields kept, n_items required
-- (pad id 0 included) and heads dividing dim; errors name the variant (level 4: the caller of
-- the constructor).
local function settings(name, defaults, cfg, base)
  cfg = cfg or {}
  local c = base or {}
  for k, v in pairs(defaults) do c[k] = cfg[k] == nil and v or cfg[k] end
  c.n_items = cfg.n_items
  if math.type(c.n_items) ~= "integer" or c.n_items < 2 then
    error(name .. ": n_items: expected an integer >= 2 (pad id 0 included), got " .. tostring(c.n_items), 4)
  end
  if c.dim % c.heads ~= 0 then
    error(string.format("%s: heads (%d) must divide dim (%d)", name, c.heads, c.dim), 4)
  end
  return c
end

-- cfg: n_items (required, pad id 0 included), dim, layers, heads, inner, max_len, eps,
-- hidden_dropout, attn_dropout, seed (init from a generator with this seed, dropout from one
-- seeded seed + 1).
function SASRec:init(cfg)
  local c = settings("SASRec", defaults, cfg)
  self.cfg = c
  local g = tensor.generator(c.seed)
  self.generator = tensor.generator(c.seed + 1)
  self:add_module("item_embedding", nn.Embedding(c.n_items, c.dim, {padding_idx = PAD, generator = g}))
  self:add_module("position_embedding", nn.Embedding(c.max_len + 1, c.dim, {generator = g}))
  self:add_module("emb_layernorm", nn.LayerNorm(c.dim, {eps = c.eps}))
  self:add_module("emb_drop", nn.Dropout(c.hidden_dropout, {generator = self.generator}))
  local layers = nn.ModuleList()
  for _ = 1, c.layers do layers:append(Layer(c, g, self.generator)) end
  self:add_module("layers", layers)
  for _, e in ipairs(self:named_parameters()) do
    local name, p = e[1], e[2]
    if not name:find("layernorm") then -- LayerNorm keeps its weight 1, bias 0
      if name:sub(-5) == ".bias" then nn.init.zeros_(p) else nn.init.normal_(p, 0, 0.02, g) end
    end
  end
  recx.no_grad(function() self.item_embedding.weight:select(1, PAD + 1):fill_(0) end)
end

-- (B, 1, L, L) additive mask from the ids: 0 where key s is not padding and s <= query t,
-- -10000 elsewhere.
local function additive_mask(seq, dtype)
  local B, L = seq:size(1), seq:size(2)
  local pos = tensor.arange(0, L, {dtype = "i64", device = seq:device()})
  local causal = pos:view(1, L):le(pos:view(L, 1))                  -- (L, L): s <= t
  local m = seq:ne(PAD):view(B, 1, 1, L):logical_and(causal:view(1, 1, L, L)) -- (B, 1, L, L)
  return tensor.zeros({B, 1, L, L}, {dtype = dtype, device = seq:device()}):masked_fill(m:logical_not(), MASK_VALUE)
end

-- item_seq (B, L) integer, left-padded with 0 -> hidden states (B, L, dim)
function SASRec:forward(item_seq)
  local L = item_seq:size(2)
  if L > self.cfg.max_len then
    error(string.format("SASRec: item_seq: length %d exceeds max_len %d", L, self.cfg.max_len), 2)
  end
  local w = self.item_embedding.weight
  local pos = tensor.arange(0, L, {dtype = "i64", device = w:device()})
  local x = self.item_embedding(item_seq) + self.position_embedding(pos)
  x = self.emb_drop(self.emb_layernorm(x))
  local mask = additive_mask(item_seq, w:dtype())
  for i = 1, #self.layers do x = self.layers[i](x, mask) end
  return x
end

-- item_seq (B, L) -> user vectors (B, dim): the hidden state at the last position.
function SASRec:user_embedding(item_seq)
  local x = self(item_seq)
  return x:select(2, x:size(2))
end

-- item_seq (B, L) -> (B, n_items): dot products with every item embedding (pad id 0 included).
function SASRec:scores(item_seq)
  return self:user_embedding(item_seq):matmul(self.item_embedding.weight:t())
end

-- Full-softmax loss: mean over rows of logsumexp(scores) - scores[target]; targets (B) integer.
function SASRec:loss(item_seq, targets)
  return F.cross_entropy(self:scores(item_seq), targets)
end

-- The item table (n_items, dim) that scores are dot products with (a live parameter).
function SASRec:item_vectors()
  return self.item_embedding.weight
end
SASRec.user_vectors = SASRec.user_embedding -- the name MF shares

-- ---- the paper variant ---------------------------------------------------------------------------

local Paper = nn.Module:extend("SASRecPaper")

local paper_defaults = {dim = 50, layers = 2, heads = 1, max_len = 50, dropout = 0.5, eps = 1e-8, seed = 0}

local PaperBlock = nn.Module:extend("SASRecPaperBlock")

function PaperBlock:init(c, g, drop_g)
  self.heads, self.head_dim, self.p, self.generator = c.heads, c.dim // c.heads, c.dropout, drop_g
  self:add_module("attn_norm", nn.LayerNorm(c.dim, {eps = c.eps}))
  for _, n in ipairs({"query", "key", "value"}) do self:add_module(n, nn.Linear(c.dim, c.dim, {generator = g})) end
  self:add_module("ffn_norm", nn.LayerNorm(c.dim, {eps = c.eps}))
  self:add_module("dense1", nn.Linear(c.dim, c.dim, {generator = g}))
  self:add_module("dense2", nn.Linear(c.dim, c.dim, {generator = g}))
  self:add_module("drop", nn.Dropout(c.dropout, {generator = drop_g}))
end

-- x (B, L, C), mask (B, 1, L, L) additive, keep (B, L, 1) float 1/0 -> (B, L, C)
function PaperBlock:forward(x, mask, keep)
  local B, L, C = x:size(1), x:size(2), x:size(3)
  local q = self.attn_norm(x)
  local function heads(t) return t:view(B, L, self.heads, self.head_dim):transpose(2, 3) end
  local ctx = F.attention(heads(self.query(q)), heads(self.key(x)), heads(self.value(x)), {additive_mask = mask,
    dropout = self.training and self.p or 0, generator = self.generator})
  x = q + ctx:transpose(2, 3):reshape(B, L, C)
  local h = self.ffn_norm(x)
  return (h + self.drop(self.dense2(self.drop(self.dense1(h):relu())))) * keep
end

-- cfg: n_items (required, pad id 0 included), dim (50), layers (2), heads (1), max_len (50),
-- dropout (0.5: embeddings, attention probabilities, FFN), eps (1e-8), seed.
function Paper:init(cfg)
  local c = settings("SASRec.Paper", paper_defaults, cfg, {variant = "paper"})
  self.cfg = c
  local g = tensor.generator(c.seed)
  self.generator = tensor.generator(c.seed + 1)
  self:add_module("item_embedding", nn.Embedding(c.n_items, c.dim, {padding_idx = PAD, generator = g}))
  self:add_module("position_embedding", nn.Embedding(c.max_len, c.dim, {generator = g}))
  self:add_module("emb_drop", nn.Dropout(c.dropout, {generator = self.generator}))
  local blocks = nn.ModuleList()
  for _ = 1, c.layers do blocks:append(PaperBlock(c, g, self.generator)) end
  self:add_module("blocks", blocks)
  self:add_module("last_layernorm", nn.LayerNorm(c.dim, {eps = c.eps}))
  for _, e in ipairs(self:named_parameters()) do
    local name, p = e[1], e[2]
    if not name:find("norm") then
      if name:sub(-5) == ".bias" then nn.init.zeros_(p) else nn.init.xavier_uniform_(p, 1, g) end
    end
  end
  recx.no_grad(function() self.item_embedding.weight:select(1, PAD + 1):fill_(0) end)
end

-- item_seq (B, L) integer, left-padded with 0 -> hidden states (B, L, dim) (zero at padding
-- before the last LayerNorm)
function Paper:forward(item_seq)
  local B, L = item_seq:size(1), item_seq:size(2)
  if L > self.cfg.max_len then
    error(string.format("SASRec.Paper: item_seq: length %d exceeds max_len %d", L, self.cfg.max_len), 2)
  end
  local w = self.item_embedding.weight
  local keep = item_seq:ne(PAD):to(w:dtype()):view(B, L, 1)
  local pos = tensor.arange(0, L, {dtype = "i64", device = w:device()})
  local x = self.item_embedding(item_seq) * math.sqrt(self.cfg.dim) + self.position_embedding(pos)
  x = self.emb_drop(x) * keep
  local mask = additive_mask(item_seq, w:dtype())
  for i = 1, #self.blocks do x = self.blocks[i](x, mask, keep) end
  return self.last_layernorm(x)
end

Paper.user_embedding = SASRec.user_embedding
Paper.scores = SASRec.scores
Paper.loss = SASRec.loss
Paper.item_vectors = SASRec.item_vectors
Paper.user_vectors = SASRec.user_embedding

-- The paper's training loss. item_seq, pos, neg (B, L) integer; rows (K) i64: the 0-based flat
-- positions b * L + t where pos is not padding. Mean over those positions of
-- -log sigmoid(h . E[pos]) - log(1 - sigmoid(h . E[neg])).
function Paper:bce_loss(item_seq, pos, neg, rows)
  local B, L, C = item_seq:size(1), item_seq:size(2), self.cfg.dim
  local h = self(item_seq):reshape(B * L, C):index_select(1, rows)                     -- (K, C)
  local w = self.item_embedding.weight
  local pl = (h * F.embedding(w, pos:reshape(B * L):index_select(1, rows))):sum(2)     -- (K)
  local nl = (h * F.embedding(w, neg:reshape(B * L):index_select(1, rows))):sum(2)
  local K = rows:size(1)
  local ones = tensor.ones(K, {dtype = w:dtype(), device = w:device()})
  return F.bce_with_logits(pl, ones) + F.bce_with_logits(nl, ones * 0)
end

SASRec.Paper = Paper
SASRec.Attention = Attention

-- build(cfg): the paper variant when cfg.variant == "paper", else UniRec's.
function SASRec.build(cfg)
  if cfg and cfg.variant == "paper" then return Paper(cfg) end
  local c = {}
  for k, v in pairs(cfg or {}) do if k ~= "variant" then c[k] = v end end
  local m = SASRec(c)
  m.cfg.variant = "unirec"
  return m
end

return SASRec
