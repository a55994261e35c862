-- test_llama_swa.lua — sliding-window attention of recx.llm.llama against Hugging Face
-- transformers on two tiny random models with sliding_window = 4 and T = 12
-- (tests/fixtures/llama_tiny_mistral_swa: every layer windowed; llama_tiny_qwen2_swa:
-- use_sliding_window, max_window_layers = 1, so layer 0 is full and layer 1 windowed): the
-- config rules, logits (1e-5), left-padded batches, the loss and gradients, cached decode
-- (one token at a time, chunked, left-padded) equal to the full forward and to HF, the window
-- surviving save_hf (and transformers reading the folder) and the GGUF metadata key.
local T = require "harness"
local U = require "llama_util"
local recx = require "recx"
local llama = require "recx.llm.llama"
local C = require "recx.llm.config"
local tensor = recx.tensor

local SWA = {"mistral_swa", "qwen2_swa"}

local function dir(name) return U.FIXTURES .. "llama_tiny_" .. name end

local function windows(m)
  local out = {}
  for l = 1, #m.model.layers do out[l] = m.model.layers[l].self_attn.sliding_window or 0 end
  return out
end

local BASE = {vocab_size = 8, hidden_size = 8, intermediate_size = 8, num_hidden_layers = 3, num_attention_heads = 2}
local function cfg(extra)
  local c = {}
  for k, v in pairs(BASE) do c[k] = v end
  for k, v in pairs(extra) do c[k] = v end
  return C.normalize(c)
end
local function layer_windows(c)
  return {C.layer_window(c, 1) or 0, C.layer_window(c, 2) or 0, C.layer_window(c, 3) or 0}
end

T.case("config: which layers get the window (transformers' rules)", function()
  T.eq(layer_windows(cfg({model_type = "mistral", sliding_window = 4})), {4, 4, 4})
  T.eq(layer_windows(cfg({model_type = "mistral", sliding_window = 4,
    layer_types = {"full_attention", "full_attention", "full_attention"}})), {4, 4, 4}, "mistral ignores layer_types")
  T.eq(layer_windows(cfg({model_type = "qwen2", sliding_window = 4})), {0, 0, 0}, "qwen2 needs use_sliding_window")
  T.eq(layer_windows(cfg({model_type = "qwen2", sliding_window = 4, use_sliding_window = true, max_window_layers = 1})), {0, 4, 4})
  T.eq(layer_windows(cfg({model_type = "qwen2", sliding_window = 4, use_sliding_window = true})), {0, 0, 0}, "default 28")
  T.eq(layer_windows(cfg({model_type = "qwen2", sliding_window = 5, use_sliding_window = true, max_window_layers = 0,
    layer_types = {"sliding_attention", "full_attention", "sliding_attention"}})), {5, 0, 5}, "layer_types win")
  T.eq(layer_windows(cfg({model_type = "llama", sliding_window = 4})), {0, 0, 0}, "llama ignores it")
  T.eq(layer_windows(cfg({model_type = "mistral"})), {0, 0, 0})
  -- normalising a normalised config keeps the window
  local c = cfg({model_type = "qwen2", sliding_window = 4, use_sliding_window = true, max_window_layers = 2})
  T.eq(layer_windows(C.normalize(c)), {0, 0, 4})
  T.raises("sliding_window: expected a positive integer, got 0", cfg, {model_type = "mistral", sliding_window = 0})
  T.raises("layer_types: expected a list of 3 entries (num_hidden_layers), got 2 entries", cfg,
    {model_type = "qwen2", sliding_window = 4, use_sliding_window = true, layer_types = {"full_attention", "full_attention"}})
  T.raises("layer_types[2]: expected \"full_attention\" or \"sliding_attention\", got chunked", cfg,
    {model_type = "qwen2", sliding_window = 4, use_sliding_window = true, layer_types = {"full_attention", "chunked", "full_attention"}})
  -- the fixtures' layers
  T.eq(windows(llama.load(dir("mistral_swa"))), {4, 4})
  T.eq(windows(llama.load(dir("qwen2_swa"))), {0, 4})
  T.eq(windows(llama.load(dir("qwen2"))), {0, 0}, "use_sliding_window false")
end)

T.case("logits equal transformers' (1e-5), and the window matters on the layers that have it", function()
  for _, name in ipairs(SWA) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    T.eq(ref.input_ids:shape(), {2, 12})
    local logits = recx.no_grad(m.forward, m, ref.input_ids)
    local d = U.maxdiff(logits, ref.logits)
    T.ok(d <= 1e-5, name .. ": max diff " .. d)
    local last = recx.no_grad(m.forward, m, ref.input_ids, {logits_at = "last"})
    T.ok(U.maxdiff(last, ref.logits:select(2, -1)) <= 1e-5, name .. ": logits_at last")
    -- the first 4 positions see no key outside the window: a full-attention model agrees there,
    -- and only there
    local saved = windows(m)
    for l = 1, #m.model.layers do m.model.layers[l].self_attn.sliding_window = nil end
    local full = recx.no_grad(m.forward, m, ref.input_ids)
    T.ok(U.maxdiff(full:narrow(2, 1, 4), ref.logits:narrow(2, 1, 4)) <= 1e-5, name .. ": first 4 positions")
    T.ok(U.maxdiff(full:narrow(2, 5, 8), ref.logits:narrow(2, 5, 8)) > 1e-3, name .. ": without the window the logits differ")
    -- every layer windowed (qwen2: layer 0 too) or a window of 5 also differs
    for l = 1, #m.model.layers do m.model.layers[l].self_attn.sliding_window = 4 end
    local all = recx.no_grad(m.forward, m, ref.input_ids)
    T.eq(U.maxdiff(all, ref.logits) <= 1e-5, name == "mistral_swa", name .. ": windowing every layer")
    for l = 1, #m.model.layers do m.model.layers[l].self_attn.sliding_window = saved[l] > 0 and 5 or nil end
    T.ok(U.maxdiff(recx.no_grad(m.forward, m, ref.input_ids), ref.logits) > 1e-3, name .. ": window 5 differs")
  end
end)

T.case("left-padded batch: HF's logits, and the real positions equal the unpadded ones", function()
  for _, name in ipairs(SWA) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    -- row 2: 5 pads then input_ids[2][1..7]
    local pl = recx.no_grad(m.forward, m, ref.padded_ids, {attention_mask = ref.padded_mask})
    local real = pl:select(1, 2):narrow(1, 6, 7)
    T.ok(U.maxdiff(real, ref.padded_logits:select(1, 2):narrow(1, 6, 7)) <= 1e-5, name .. ": vs HF")
    T.ok(U.maxdiff(real, ref.logits:select(1, 2):narrow(1, 1, 7)) <= 1e-5, name .. ": vs unpadded")
    T.ok(U.maxdiff(pl:select(1, 1), ref.logits:select(1, 1)) <= 1e-5, name .. ": unpadded row")
    T.ok(U.maxdiff(pl:select(1, 1), ref.padded_logits:select(1, 1)) <= 1e-5, name .. ": unpadded row vs HF")
  end
end)

T.case("loss and weight gradients equal HF's", function()
  for _, name in ipairs(SWA) do
    U.check_loss_and_grads(T, llama.load(dir(name)), U.reference(name), name)
  end
end)

-- columns from .. from + n - 1 of x (B, T) as a contiguous tensor
local function cols(x, from, n) return x:narrow(2, from, n):contiguous() end

T.case("cached decode: one token at a time and chunked equal the full forward and HF (1e-5)", function()
  for _, name in ipairs(SWA) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local ids = ref.input_ids
    local full = recx.no_grad(m.forward, m, ids)
    -- one token at a time from an empty cache
    local cache = m:new_cache(2, 16)
    local worst, worst_hf = 0, 0
    for t = 1, 12 do
      local step = recx.no_grad(m.forward, m, cols(ids, t, 1), {cache = cache, logits_at = "last"})
      worst = math.max(worst, U.maxdiff(step, full:select(2, t)))
      worst_hf = math.max(worst_hf, U.maxdiff(step, ref.logits:select(2, t)))
    end
    T.ok(worst <= 1e-5, name .. ": token by token vs full, max diff " .. worst)
    T.ok(worst_hf <= 1e-5, name .. ": token by token vs HF, max diff " .. worst_hf)
    T.eq(cache:length(), 12)
    -- chunks 5 + 2 + 5: the window reaches back into earlier chunks
    cache:reset()
    local got, s = {}, 1
    for _, n in ipairs({5, 2, 5}) do
      got[#got + 1] = recx.no_grad(m.forward, m, cols(ids, s, n), {cache = cache})
      s = s + n
    end
    T.ok(U.maxdiff(tensor.cat(got, 2), full) <= 1e-5, name .. ": chunks 5 + 2 + 5")
  end
end)

T.case("cached decode of a left-padded batch: mask given once, remembered by the cache", function()
  for _, name in ipairs(SWA) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local cache = m:new_cache(2, 12)
    -- prefill 6 columns (row 2: 5 pads and one real token), then 6 single steps
    local pre = recx.no_grad(m.forward, m, cols(ref.padded_ids, 1, 6),
      {cache = cache, attention_mask = cols(ref.padded_mask, 1, 6)})
    T.ok(U.maxdiff(pre:select(1, 1), ref.logits:select(1, 1):narrow(1, 1, 6)) <= 1e-5, name .. ": prefill row 1")
    T.ok(U.maxdiff(pre:select(1, 2):select(1, 6), ref.logits:select(1, 2):select(1, 1)) <= 1e-5, name .. ": prefill row 2")
    local worst = 0
    for t = 7, 12 do
      local step = recx.no_grad(m.forward, m, cols(ref.padded_ids, t, 1), {cache = cache, logits_at = "last"})
      worst = math.max(worst, U.maxdiff(step, ref.padded_logits:select(2, t)))
      worst = math.max(worst, U.maxdiff(step:select(1, 2), ref.logits:select(1, 2):select(1, t - 5)))
    end
    T.ok(worst <= 1e-5, name .. ": padded decode steps vs HF, max diff " .. worst)
  end
end)

T.case("save_hf keeps the window; transformers reads recx's folder", function()
  local pairs, dirs = {}, {}
  for _, name in ipairs(SWA) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local d = U.tmpdir("swa_" .. name)
    m:save_hf(d)
    local conf = assert(io.open(d .. "/config.json")):read("a")
    T.ok(conf:find('"sliding_window":4', 1, true), name .. ": sliding_window in config.json")
    local m2 = llama.load(d)
    T.eq(windows(m2), windows(m), name .. ": windows after the round trip")
    T.eq(U.maxdiff(recx.no_grad(m2.forward, m2, ref.input_ids), ref.logits) <= 1e-5, true, name .. ": logits")
    pairs[#pairs + 1] = {d, dir(name) .. "/reference.safetensors"}
    dirs[#dirs + 1] = d
  end
  -- a Mistral without a window says so (transformers' default would be 4096)
  local mi = llama.load(dir("mistral"))
  local d = U.tmpdir("swa_plain_mistral")
  mi:save_hf(d)
  T.ok(assert(io.open(d .. "/config.json")):read("a"):find('"sliding_window":null', 1, true), "null window")
  dirs[#dirs + 1] = d
  U.check_with_transformers(T, pairs, 2)
  for _, x in ipairs(dirs) do U.rmdir(x) end
end)

T.case("GGUF metadata: <arch>.attention.sliding_window windows every layer", function()
  local G = require "recx.llm.load_gguf"
  local function md(arch, window)
    local t = {["general.architecture"] = arch}
    for k, v in pairs({vocab_size = 8, embedding_length = 8, feed_forward_length = 8, block_count = 2,
        ["attention.head_count"] = 2, ["attention.layer_norm_rms_epsilon"] = 1e-5}) do
      t[arch .. "." .. k] = v
    end
    t[arch .. ".attention.sliding_window"] = window
    return t
  end
  local tensors = {{name = "output.weight"}}
  for _, arch in ipairs({"llama", "qwen2"}) do
    local c = C.normalize(G.config(md(arch, 4), tensors, "x.gguf"))
    T.eq({C.layer_window(c, 1), C.layer_window(c, 2)}, {4, 4}, arch)
    local plain = C.normalize(G.config(md(arch, nil), tensors, "x.gguf"))
    T.eq(plain.sliding_window, nil, arch .. ": no key, no window")
  end
end)

T.done()
