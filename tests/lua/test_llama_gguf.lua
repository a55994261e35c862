-- test_llama_gguf.lua — GGUF saving and loading of recx.llm.llama models: save_gguf F32 -> load
-- gives the same logits on five tiny HF fixtures (GQA, tied, Qwen2 biases, Mistral head_dim 16,
-- llama3 rope scaling via rope_freqs.weight), F16 / BF16 within stated bounds, the attn_q/attn_k
-- rows stored in llama.cpp's interleaved order (checked by index arithmetic here), metadata
-- (llama.* keys, tokenizer entries passed through), and — when Python is present — gguf-py
-- reading the files and transformers' GGUF loader giving the same logits.
-- Skips when recx.gguf is not in the build.
local T = require "harness"
local U = require "llama_util"
local recx = require "recx"
if not (recx.gguf and recx.gguf.open) then T.skip("recx.gguf is not in this build") end
local llama = require "recx.llm.llama"
local tensor = recx.tensor

local function dir(name) return U.FIXTURES .. "llama_tiny_" .. name end
local tmp = U.tmpdir("gguf")

T.case("save_gguf F32 -> load: identical logits on five architectures", function()
  for _, name in ipairs({"gqa", "tied", "qwen2", "mistral", "llama3"}) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local path = tmp .. "/" .. name .. ".gguf"
    m:save_gguf(path)
    local m2 = llama.load(path)
    local d = U.maxdiff(recx.no_grad(m2.forward, m2, ref.input_ids), ref.logits)
    T.ok(d <= 1e-5, string.format("%s: max diff vs HF %.3g", name, d))
    T.eq(m2.config.tie_word_embeddings, m.config.tie_word_embeddings, name .. ": tied")
    T.eq(m2.config.head_dim, m.config.head_dim, name .. ": head_dim")
    T.eq(U.maxdiff(m2.model.layers[2].self_attn.k_proj.weight, m.model.layers[2].self_attn.k_proj.weight), 0,
      name .. ": k_proj back in HF order")
  end
end)

T.case("F16 and BF16 files: logits within 2e-3 / 2e-2 of the f32 model", function()
  local m = llama.load(dir("gqa"))
  local ref = U.reference("gqa")
  for ty, tol in pairs({F16 = 2e-3, BF16 = 2e-2}) do
    local path = tmp .. "/gqa_" .. ty .. ".gguf"
    m:save_gguf(path, {type = ty})
    local g <close> = recx.gguf.open(path)
    local types = {}
    for _, t in ipairs(g:tensors()) do types[t.name] = t.type end
    T.eq(types["blk.0.attn_q.weight"], ty)
    T.eq(types["blk.0.attn_norm.weight"], "F32", "norms stay F32")
    T.eq(g:metadata()["general.file_type"], ty == "F16" and 1 or 32)
    local m2 = llama.load(path)
    local d = U.maxdiff(recx.no_grad(m2.forward, m2, ref.input_ids), ref.logits)
    T.ok(d <= tol and d > 0, string.format("%s: max diff %.3g (bound %g)", ty, d, tol))
  end
end)

T.case("attn_q / attn_k rows are stored in llama.cpp's interleaved order; metadata", function()
  local m = llama.load(dir("gqa"))
  local path = tmp .. "/perm.gguf"
  local toks = {}
  for i = 1, 64 do toks[i] = "t" .. i end
  m:save_gguf(path, {name = "tiny", metadata = {{"tokenizer.ggml.model", "str", "gpt2"},
    {"tokenizer.ggml.tokens", "arr[str]", toks}, {"llama.context_length", "u32", 99}}})
  local g <close> = recx.gguf.open(path)
  local md = g:metadata()
  T.eq(md["general.architecture"], "llama")
  T.eq(md["general.name"], "tiny")
  T.eq(md["llama.block_count"], 2)
  T.eq(md["llama.attention.head_count"], 4)
  T.eq(md["llama.attention.head_count_kv"], 2)
  T.eq(md["llama.embedding_length"], 32)
  T.eq(md["llama.context_length"], 99, "an entry passed in replaces the generated one")
  T.eq(md["tokenizer.ggml.tokens"][64], "t64")
  T.eq(md["tokenizer.ggml.padding_token_id"], 0)
  T.near(md["llama.attention.layer_norm_rms_epsilon"], 1e-5, 1e-6)
  -- HF row h*D + i*(D/2) + j (i in {0, 1}) is stored at row h*D + 2*j + i
  local D = 8
  for _, spec in ipairs({{"q_proj", "attn_q", 4}, {"k_proj", "attn_k", 2}}) do
    local hf = m.model.layers[1].self_attn[spec[1]].weight:tolist()
    local stored = g:load("blk.0." .. spec[2] .. ".weight"):tolist()
    local bad = 0
    for h = 0, spec[3] - 1 do
      for i = 0, 1 do
        for j = 0, D // 2 - 1 do
          local a, b = hf[h * D + i * (D // 2) + j + 1], stored[h * D + 2 * j + i + 1]
          for col = 1, 32 do if a[col] ~= b[col] then bad = bad + 1 end end
        end
      end
    end
    T.eq(bad, 0, spec[2] .. " permutation")
  end
  T.eq(g:load("token_embd.weight"):shape(), {64, 32})
  T.eq(g:load("output.weight"):shape(), {64, 32})
end)

T.case("gguf-py reads recx's files and transformers' GGUF loader gives the same logits", function()
  if not U.has_python() then
    print("  (skipped inside the test: " .. U.PYTHON .. " not found)")
    return
  end
  local pairs = {}
  for _, name in ipairs({"gqa", "tied", "qwen2"}) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local path = tmp .. "/py_" .. name .. ".gguf"
    m:save_gguf(path)
    local expect = tmp .. "/py_" .. name .. ".safetensors"
    recx.safetensors.save(expect, {input_ids = ref.input_ids, logits = recx.no_grad(m.forward, m, ref.input_ids)})
    pairs[#pairs + 1] = {path, expect}
  end
  local ok, out = U.python_check("--check-gguf", pairs, 1e-5)
  T.ok(ok, "python: " .. out)
  local n = 0
  for _ in out:gmatch('"ok": true') do n = n + 1 end
  T.eq(n, 3, "three files checked")
  T.ok(out:find('"gguf_py_tensors": 20', 1, true) ~= nil, "gguf-py lists the tied model's 20 tensors: " .. out)
end)

T.case("errors: bad type, unsupported architecture, missing tensors", function()
  local m = llama.load(dir("gqa"))
  T.raises("type: expected \"F32\", \"F16\" or \"BF16\", got Q4_0", m.save_gguf, m, tmp .. "/x.gguf", {type = "Q4_0"})
  local path = tmp .. "/arch.gguf"
  recx.gguf.save(path, {metadata = {{"general.architecture", "str", "gpt2"}},
    tensors = {{"token_embd.weight", tensor.zeros({4, 2}), type = "F32"}}})
  T.raises("general.architecture 'gpt2' is not supported", llama.load, path)
  local src = recx.gguf.open(tmp .. "/gqa.gguf")
  local md, keep = {}, {}
  for k, v in pairs(src:metadata()) do md[#md + 1] = {k, src:metadata_type(k), v} end
  for _, t in ipairs(src:tensors()) do
    if t.name ~= "blk.1.ffn_up.weight" then keep[#keep + 1] = {t.name, src:load(t.name), type = "F32"} end
  end
  src:close()
  recx.gguf.save(tmp .. "/missing.gguf", {metadata = md, tensors = keep})
  T.raises("missing tensors (HF names): model.layers.1.mlp.up_proj.weight", llama.load, tmp .. "/missing.gguf")
end)

U.rmdir(tmp)
T.done()
