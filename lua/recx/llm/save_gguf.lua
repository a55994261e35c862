-- recx.llm.save_gguf — writes a recx.llm.llama model as a GGUF v3 file (through recx.gguf.save)
-- that llama.cpp, gguf-py and transformers' GGUF loader read.
--
-- Owns: the general.* and <arch>.* metadata of the config (arch "llama" for Llama and Mistral,
-- "qwen2" for Qwen2: context_length, embedding_length, block_count, feed_forward_length,
-- attention.head_count(_kv), attention.key_length / value_length, rope.dimension_count,
-- rope.freq_base, attention.layer_norm_rms_epsilon, vocab_size, general.file_type), the HF ->
-- llama.cpp tensor names, llama.cpp's row permutation of attn_q / attn_k for the llama
-- architecture (per head, the view (2, D/2) of HF's rotate-half rows is transposed), and a
-- rope_freqs.weight tensor carrying llama3 rope scaling (the ratio of plain to scaled inverse
-- frequencies, as llama.cpp stores it). Norm weights are always stored F32 (as llama.cpp does);
-- the rest in opts.type. Metadata entries passed in opts.metadata ({key, type, value}: e.g. the
-- tokenizer.ggml.* entries of a source GGUF) are appended, replacing generated keys of the same
-- name.
-- Use:
--   model:save_gguf("out/model.gguf", {type = "F16", metadata = require("recx.llm.save_gguf").tokenizer_metadata(g)})
local recx = require "recx"
local C = require "recx.llm.config"

local M = {}

local FILE_TYPE = {F32 = 0, F16 = 1, BF16 = 32}

local LAYER = {
  ["self_attn.q_proj"] = "attn_q", ["self_attn.k_proj"] = "attn_k", ["self_attn.v_proj"] = "attn_v",
  ["self_attn.o_proj"] = "attn_output", input_layernorm = "attn_norm", post_attention_layernorm = "ffn_norm",
  ["mlp.gate_proj"] = "ffn_gate", ["mlp.up_proj"] = "ffn_up", ["mlp.down_proj"] = "ffn_down",
}

-- The llama.cpp name of an HF parameter name.
function M.gguf_name(name)
  if name == "model.embed_tokens.weight" then return "token_embd.weight" end
  if name == "model.norm.weight" then return "output_norm.weight" end
  if name == "lm_head.weight" then return "output.weight" end
  local l, part, kind = name:match("^model%.layers%.(%d+)%.(.+)%.(%a+)$")
  if l and LAYER[part] then return string.format("blk.%s.%s.%s", l, LAYER[part], kind) end
  return nil
end

-- HF rotate-half rows -> llama.cpp's interleaved rows, per head: (n, 2, D/2, ...) -> (n, D/2, 2, ...).
function M.permute(t, n)
  local rows = t:size(1)
  if t:dim() == 1 then
    return t:view(n, 2, rows // n // 2):transpose(2, 3):contiguous():view(rows)
  end
  local cols = t:size(2)
  return t:view(n, 2, rows // n // 2, cols):transpose(2, 3):contiguous():view(rows, cols)
end

-- The tokenizer.ggml.* (and tokenizer.chat_template) entries of an open GGUF file, as
-- {key, type, value} for opts.metadata.
function M.tokenizer_metadata(g)
  local md = g:metadata()
  local keys = {}
  for k in pairs(md) do
    if k:find("^tokenizer%.") then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do out[#out + 1] = {k, g:metadata_type(k), md[k]} end
  return out
end

-- opts: type ("F32" default, "F16", "BF16"), metadata (extra entries), name (general.name).
function M.save(m, path, opts)
  opts = recx.nn.Module.check_options("save_gguf", opts, {"type", "metadata", "name"})
  if type(path) ~= "string" or path == "" then error("save_gguf: argument #2: expected a file path", 2) end
  local ty = opts.type or "F32"
  if not FILE_TYPE[ty] then error("save_gguf: type: expected \"F32\", \"F16\" or \"BF16\", got " .. tostring(ty), 2) end
  local c = m.config
  local arch = c.model_type == "qwen2" and "qwen2" or "llama"
  local meta = {
    {"general.architecture", "str", arch},
    {"general.name", "str", opts.name or "recx"},
    {"general.file_type", "u32", FILE_TYPE[ty]},
    {arch .. ".context_length", "u32", c.max_position_embeddings},
    {arch .. ".embedding_length", "u32", c.hidden_size},
    {arch .. ".block_count", "u32", c.num_hidden_layers},
    {arch .. ".feed_forward_length", "u32", c.intermediate_size},
    {arch .. ".attention.head_count", "u32", c.num_attention_heads},
    {arch .. ".attention.head_count_kv", "u32", c.num_key_value_heads},
    {arch .. ".attention.key_length", "u32", c.head_dim},
    {arch .. ".attention.value_length", "u32", c.head_dim},
    {arch .. ".rope.dimension_count", "u32", c.head_dim},
    {arch .. ".rope.freq_base", "f32", c.rope_theta},
    {arch .. ".attention.layer_norm_rms_epsilon", "f32", c.rms_norm_eps},
    {arch .. ".vocab_size", "u32", c.vocab_size},
  }
  for _, k in ipairs({"bos", "eos", "padding"}) do
    local v = c[(k == "padding" and "pad" or k) .. "_token_id"]
    if type(v) == "table" then v = v[1] end
    if math.type(v) == "integer" then meta[#meta + 1] = {"tokenizer.ggml." .. k .. "_token_id", "u32", v} end
  end
  if opts.metadata then
    local pos = {}
    for i, e in ipairs(meta) do pos[e[1]] = i end
    for _, e in ipairs(opts.metadata) do
      if pos[e[1]] then meta[pos[e[1]]] = e else meta[#meta + 1] = e; pos[e[1]] = #meta end
    end
  end
  local permute = arch == "llama"
  local tensors = {}
  recx.no_grad(function()
    for _, e in ipairs(m:named_parameters()) do
      local name, t = e[1], e[2]:detach():to({dtype = "f32", device = "cpu"})
      local gname = M.gguf_name(name)
      if not gname then error("save_gguf: parameter '" .. name .. "' has no GGUF name", 0) end
      if permute and gname:find("%.attn_q%.") then
        t = M.permute(t, c.num_attention_heads)
      elseif permute and gname:find("%.attn_k%.") then
        t = M.permute(t, c.num_key_value_heads)
      end
      local tt = ty
      if t:dim() == 1 then tt = "F32" end
      tensors[#tensors + 1] = {gname, t, type = tt}
    end
    if c.rope_scaling then
      local plain = {}
      for k, v in pairs(c) do plain[k] = v end
      plain.rope_scaling = nil
      local base, scaled = C.inv_freq_list(plain), m.inv_freq
      local ratio = {}
      for i = 1, #base do ratio[i] = base[i] / scaled[i] end
      tensors[#tensors + 1] = {"rope_freqs.weight", recx.tensor.from(ratio, {dtype = "f32"}), type = "F32"}
    end
  end)
  recx.gguf.save(path, {metadata = meta, tensors = tensors})
  return path
end

return M
