-- recx.llm.llama2c — reader of llama2.c legacy (version 0) checkpoints.
--
-- Owns: parsing the 7 int32 header fields (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
-- vocab_size, seq_len; a negative vocab_size means the classifier is stored separately), the
-- exact-size check of the file against the float count the header implies, and turning the fp32
-- weights into recx tensors in the shapes F.linear expects ((out, in) row-major, which is how
-- llama2.c stores them). The freq_cis tables are skipped: recx computes RoPE itself.
-- wq and wk rows are permuted at load time from llama2.c's interleaved RoPE pairs
-- (x[2i], x[2i+1]) to the Hugging Face rotate-half layout (x[i], x[i + D/2]) that
-- recx.nn.functional.rope uses: within each head, new row j (< D/2) is old row 2j and new row
-- D/2 + j is old row 2j + 1. q.k scores are unchanged because q and k get the same permutation.
-- to_model / load_model turn a checkpoint into a recx.llm.llama model (RMSNorm eps 1e-5, RoPE
-- theta 10000, BOS 1, EOS 2, the classifier tied when the file shares it); query head h reads
-- key/value head h // (H / G) in both run.c and the model.
-- Use:
--   local ck = require("recx.llm.llama2c").load("stories260K.bin")
--   ck.config.dim, ck.weights.layers[1].wq, ...
--   local m = require("recx.llm.llama2c").load_model("stories260K.bin")   -- a llama model
local recx = require "recx"
local tensor = recx.tensor

local M = {}

local FIELDS = {"dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"}
local HEADER_BYTES = 4 * #FIELDS

-- Number of float32 values the header implies (including the freq_cis tables and, when the
-- classifier is not shared, the classifier).
local function float_count(c)
  local head = c.dim // c.n_heads
  local kv_dim = c.n_kv_heads * head
  local L = c.n_layers
  local n = c.vocab * c.dim                          -- token_embedding
    + L * c.dim                                      -- rms_att
    + L * c.dim * c.dim                              -- wq
    + 2 * L * kv_dim * c.dim                         -- wk, wv
    + L * c.dim * c.dim                              -- wo
    + L * c.dim                                      -- rms_ffn
    + 3 * L * c.hidden_dim * c.dim                   -- w1, w2, w3
    + c.dim                                          -- rms_final
    + c.seq_len * head                               -- freq_cis_real, freq_cis_imag (head/2 each)
  if not c.shared_classifier then n = n + c.vocab * c.dim end
  return n
end
M.float_count = float_count

local function fail(path, msg) error(string.format("llama2c: %s: %s", path, msg), 0) end

local function check_header(path, c)
  for _, f in ipairs(FIELDS) do
    if f ~= "vocab_size" and c[f] <= 0 then
      fail(path, string.format("header field %s: expected a positive value, got %d", f, c[f]))
    end
  end
  if c.vocab_size == 0 then fail(path, "header field vocab_size: expected a nonzero value, got 0") end
  if c.dim % c.n_heads ~= 0 then
    fail(path, string.format("header: expected n_heads (%d) to divide dim (%d)", c.n_heads, c.dim))
  end
  if c.n_heads % c.n_kv_heads ~= 0 then
    fail(path, string.format("header: expected n_kv_heads (%d) to divide n_heads (%d)", c.n_kv_heads, c.n_heads))
  end
  if (c.dim // c.n_heads) % 2 ~= 0 then
    fail(path, string.format("header: expected an even head size, got %d", c.dim // c.n_heads))
  end
end

-- f32 tensor of `shape` from the floats at byte position `pos` of `data`; returns it and the next position.
local function read_matrix(data, pos, shape)
  local count = 1
  for _, s in ipairs(shape) do count = count * s end
  local values = {}
  local full = "<" .. string.rep("f", 256) -- 256 floats per string.unpack call
  local i = 0
  while i < count do
    local k = math.min(256, count - i)
    local chunk = {string.unpack(k == 256 and full or "<" .. string.rep("f", k), data, pos)}
    for j = 1, k do values[i + j] = chunk[j] end
    pos = chunk[k + 1]
    i = i + k
  end
  local t = tensor.from(values, {dtype = "f32"})
  return t:view(table.unpack(shape)), pos
end

-- w (heads * D, C) in llama2.c's interleaved pair order -> the same rows in rotate-half order.
local function to_rotate_half(w, heads, D)
  local C = w:size(2)
  return w:view(heads, D // 2, 2, C):transpose(2, 3):contiguous():view(heads * D, C)
end
M.to_rotate_half = to_rotate_half

-- Returns {config = {...}, weights = {embedding, final_norm, classifier, layers = {...}}}.
function M.load(path)
  local f, err = io.open(path, "rb")
  if not f then fail(path, "cannot open: " .. tostring(err)) end
  local data = f:read("a")
  f:close()
  if #data < HEADER_BYTES then
    fail(path, string.format("expected at least %d bytes of header, got a file of %d bytes", HEADER_BYTES, #data))
  end
  local c = {}
  local vals = {string.unpack("<i4i4i4i4i4i4i4", data)}
  for i, name in ipairs(FIELDS) do c[name] = vals[i] end
  check_header(path, c)
  c.shared_classifier = c.vocab_size > 0
  c.vocab = math.abs(c.vocab_size)
  c.head_dim = c.dim // c.n_heads
  local want = HEADER_BYTES + 4 * float_count(c)
  if #data ~= want then
    fail(path, string.format("expected %d bytes (a %d-byte header and %d float32 weights for dim=%d, "
      .. "hidden_dim=%d, n_layers=%d, n_heads=%d, n_kv_heads=%d, vocab_size=%d, seq_len=%d), got %d bytes",
      want, HEADER_BYTES, float_count(c), c.dim, c.hidden_dim, c.n_layers, c.n_heads, c.n_kv_heads,
      c.vocab_size, c.seq_len, #data))
  end
  local L, C, H, D = c.n_layers, c.dim, c.hidden_dim, c.head_dim
  local kv = c.n_kv_heads * D
  local pos = HEADER_BYTES + 1
  local w = {layers = {}}
  w.embedding, pos = read_matrix(data, pos, {c.vocab, C})
  local stacked = {}
  for _, spec in ipairs({
    {"rms_att", {L, C}}, {"wq", {L, C, C}}, {"wk", {L, kv, C}}, {"wv", {L, kv, C}}, {"wo", {L, C, C}},
    {"rms_ffn", {L, C}}, {"w1", {L, H, C}}, {"w2", {L, C, H}}, {"w3", {L, H, C}},
  }) do
    stacked[spec[1]], pos = read_matrix(data, pos, spec[2])
  end
  w.final_norm, pos = read_matrix(data, pos, {C})
  pos = pos + 4 * c.seq_len * D -- freq_cis_real, freq_cis_imag (seq_len, D/2) each: unused
  if c.shared_classifier then
    w.classifier = w.embedding
  else
    w.classifier = read_matrix(data, pos, {c.vocab, C})
  end
  for l = 1, L do
    local layer = {}
    for name, t in pairs(stacked) do layer[name] = t:select(1, l):contiguous() end
    layer.wq = to_rotate_half(layer.wq, c.n_heads, D)
    layer.wk = to_rotate_half(layer.wk, c.n_kv_heads, D)
    w.layers[l] = layer
  end
  return {config = c, weights = w}
end

-- The HF-style config of a checkpoint's header.
function M.hf_config(c)
  return {vocab_size = c.vocab, hidden_size = c.dim, intermediate_size = c.hidden_dim,
    num_hidden_layers = c.n_layers, num_attention_heads = c.n_heads, num_key_value_heads = c.n_kv_heads,
    rms_norm_eps = 1e-5, rope_theta = 10000.0, max_position_embeddings = c.seq_len,
    tie_word_embeddings = c.shared_classifier, bos_token_id = 1, eos_token_id = 2}
end

-- A recx.llm.llama model holding the checkpoint's weights (converted to opts.dtype, moved to
-- opts.device; f32 on the CPU shares the checkpoint's tensors).
function M.to_model(ck, opts)
  opts = opts or {}
  local llama = require "recx.llm.llama"
  local m = llama.new(M.hf_config(ck.config), {dtype = opts.dtype, device = opts.device, init = false})
  local want = {dtype = m.model.embed_tokens.weight:dtype(), device = opts.device}
  local function put(name, t) llama.set_parameter(m, name, t:to(want)) end
  local w = ck.weights
  put("model.embed_tokens.weight", w.embedding)
  put("model.norm.weight", w.final_norm)
  for l, layer in ipairs(w.layers) do
    local p = "model.layers." .. (l - 1) .. "."
    for name, key in pairs({["self_attn.q_proj"] = "wq", ["self_attn.k_proj"] = "wk", ["self_attn.v_proj"] = "wv",
        ["self_attn.o_proj"] = "wo", ["mlp.gate_proj"] = "w1", ["mlp.down_proj"] = "w2", ["mlp.up_proj"] = "w3"}) do
      put(p .. name .. ".weight", layer[key])
    end
    put(p .. "input_layernorm.weight", layer.rms_att)
    put(p .. "post_attention_layernorm.weight", layer.rms_ffn)
  end
  if ck.config.shared_classifier then
    llama.retie(m)
  else
    put("lm_head.weight", w.classifier)
  end
  return m
end

-- load() then to_model().
function M.load_model(path, opts)
  local m = M.to_model(M.load(path), opts)
  m.source = path
  return m
end

return M
