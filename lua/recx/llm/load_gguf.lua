-- recx.llm.load_gguf — loads a llama.cpp GGUF model (architectures llama, mistral, qwen2) into a
-- recx.llm.llama model, through recx.gguf (which dequantises every block format to the dtype
-- asked).
--
-- Owns: the map from GGUF metadata to the HF-style config (<arch>.vocab_size or the token list's
-- length, embedding_length, feed_forward_length, block_count, attention.head_count(_kv),
-- attention.key_length or rope.dimension_count (head_dim), attention.layer_norm_rms_epsilon,
-- rope.freq_base, context_length, tokenizer.ggml.{bos,eos,padding}_token_id; tied when there is
-- no output.weight; attention.sliding_window when present: a window on every layer, as
-- Mistral's), the map from llama.cpp tensor names (token_embd, blk.N.attn_q/k/v/output,
-- attn_norm, ffn_gate/up/down, ffn_norm, output_norm, output) to HF names, and undoing the row
-- permutation llama.cpp's converter applies to attn_q / attn_k of the llama architecture (it
-- interleaves the two rotate-half halves of each head: HF row (h, i, j) of the view (heads, 2,
-- D/2) is stored at (h, j, i)). A rope_freqs.weight tensor (llama.cpp's form of llama3 rope
-- scaling) divides the inverse frequencies.
-- Use:
--   local m = require("recx.llm.load_gguf").load("SmolLM2-135M-Instruct.Q4_1.gguf", {dtype = "f32"})
local recx = require "recx"
local llama = require "recx.llm.llama"

local M = {}

local function fail(path, fmt, ...) error("llama.load: " .. path .. ": " .. string.format(fmt, ...), 0) end

local LAYER_NAMES = {
  attn_q = "self_attn.q_proj", attn_k = "self_attn.k_proj", attn_v = "self_attn.v_proj",
  attn_output = "self_attn.o_proj", attn_norm = "input_layernorm", ffn_norm = "post_attention_layernorm",
  ffn_gate = "mlp.gate_proj", ffn_up = "mlp.up_proj", ffn_down = "mlp.down_proj",
}
local TOP_NAMES = {
  ["token_embd.weight"] = "model.embed_tokens.weight", ["output_norm.weight"] = "model.norm.weight",
  ["output.weight"] = "lm_head.weight",
}
M.LAYER_NAMES, M.TOP_NAMES = LAYER_NAMES, TOP_NAMES

-- The HF name of a GGUF tensor name, or nil.
function M.hf_name(name)
  if TOP_NAMES[name] then return TOP_NAMES[name] end
  local l, part, kind = name:match("^blk%.(%d+)%.([%w_]+)%.(%a+)$")
  if l and LAYER_NAMES[part] and (kind == "weight" or kind == "bias") then
    return string.format("model.layers.%s.%s.%s", l, LAYER_NAMES[part], kind)
  end
  return nil
end

-- Rows of a q/k weight (n * D, in) or bias (n * D) from llama.cpp's interleaved order back to
-- HF's rotate-half order (the inverse of save_gguf's permute).
function M.unpermute(t, n)
  local rows = t:size(1)
  if t:dim() == 1 then
    return t:view(n, rows // n // 2, 2):transpose(2, 3):contiguous():view(rows)
  end
  local cols = t:size(2)
  return t:view(n, rows // n // 2, 2, cols):transpose(2, 3):contiguous():view(rows, cols)
end

-- The HF-style config table of GGUF metadata md.
function M.config(md, tensors, path)
  local arch = md["general.architecture"]
  if arch ~= "llama" and arch ~= "mistral" and arch ~= "qwen2" then
    fail(path, "general.architecture '%s' is not supported (expected llama, mistral or qwen2)", tostring(arch))
  end
  local function key(k) return md[arch .. "." .. k] end
  local function need(k)
    local v = key(k)
    if v == nil then fail(path, "metadata key '%s.%s' is missing", arch, k) end
    return v
  end
  local has_output = false
  for _, t in ipairs(tensors) do
    if t.name == "output.weight" then has_output = true end
  end
  local tokens = md["tokenizer.ggml.tokens"]
  local heads = need("attention.head_count")
  local c = {
    model_type = arch,
    vocab_size = key("vocab_size") or (tokens and #tokens) or nil,
    hidden_size = need("embedding_length"),
    intermediate_size = need("feed_forward_length"),
    num_hidden_layers = need("block_count"),
    num_attention_heads = heads,
    num_key_value_heads = key("attention.head_count_kv") or heads,
    head_dim = key("attention.key_length") or key("rope.dimension_count"),
    rms_norm_eps = need("attention.layer_norm_rms_epsilon"),
    rope_theta = key("rope.freq_base") or 10000.0,
    max_position_embeddings = key("context_length") or 2048,
    tie_word_embeddings = not has_output,
    bos_token_id = md["tokenizer.ggml.bos_token_id"],
    eos_token_id = md["tokenizer.ggml.eos_token_id"],
    pad_token_id = md["tokenizer.ggml.padding_token_id"],
  }
  if c.vocab_size == nil then
    for _, t in ipairs(tensors) do
      if t.name == "token_embd.weight" then c.vocab_size = t.shape[1] end
    end
  end
  if arch == "qwen2" then c.qkv_bias = true end
  local window = key("attention.sliding_window")
  if window ~= nil and window ~= 0 then
    c.sliding_window = window
    if arch == "qwen2" then
      c.use_sliding_window, c.max_window_layers = true, 0
    else
      c.model_type = "mistral" -- a Llama with a window on every layer
    end
  end
  return c
end

-- opts: dtype ("f32" default: "bf16", "f16" convert while dequantising), device.
function M.load(path, opts)
  opts = opts or {}
  local gguf = recx.gguf
  if not (gguf and gguf.open) then fail(path, "recx.gguf is not available in this build") end
  local g <close> = gguf.open(path)
  local md = g:metadata()
  local infos = g:tensors()
  local cfg = M.config(md, infos, path)
  local m = llama.new(cfg, {dtype = opts.dtype, device = opts.device, init = false})
  local dtype = m.model.embed_tokens.weight:dtype()
  local c = m.config
  local permute = md["general.architecture"] ~= "qwen2"
  local seen, unknown = {}, {}
  for _, info in ipairs(infos) do
    local hf = M.hf_name(info.name)
    if hf then
      local t = g:load(info.name, {dtype = dtype})
      if permute and hf:find("self_attn.q_proj", 1, true) then
        t = M.unpermute(t, c.num_attention_heads)
      elseif permute and hf:find("self_attn.k_proj", 1, true) then
        t = M.unpermute(t, c.num_key_value_heads)
      end
      if opts.device then t = t:to(opts.device) end
      local ok, err = pcall(llama.set_parameter, m, hf, t)
      if not ok then fail(path, "tensor '%s': %s", info.name, err) end
      seen[hf] = true
    elseif info.name == "rope_freqs.weight" then
      local f = g:load(info.name, {dtype = "f32"}):tolist()
      if #f ~= #m.inv_freq then fail(path, "rope_freqs.weight: expected %d values, got %d", #m.inv_freq, #f) end
      for i, v in ipairs(f) do m.inv_freq[i] = m.inv_freq[i] / v end
    else
      unknown[#unknown + 1] = info.name
    end
  end
  if #unknown > 0 then fail(path, "unexpected tensors: %s", table.concat(unknown, ", ")) end
  local missing = {}
  for _, e in ipairs(llama.expected_tensors(m)) do
    if not seen[e[1]] then missing[#missing + 1] = e[1] end
  end
  if #missing > 0 then fail(path, "missing tensors (HF names): %s", table.concat(missing, ", ")) end
  llama.retie(m)
  m.gguf_metadata = md
  return m
end

return M
