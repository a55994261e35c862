-- test_llama_hf.lua — recx.llm.llama against Hugging Face transformers on six tiny random models
-- (tests/fixtures/llama_tiny_*: plain GQA with a pad id, tied, Qwen2 q/k/v biases, llama3 rope
-- scaling, Mistral with head_dim != hidden/heads and one kv head, Llama attention+MLP biases):
-- logits, left-padded batches, the shifted loss and weight gradients; HF folder loading (single
-- file and sharded index), dtype conversion, save_hf round trips (and transformers reading
-- recx's folder when Python is present), resize_token_embeddings, inject and argument errors.
local T = require "harness"
local U = require "llama_util"
local recx = require "recx"
local llama = require "recx.llm.llama"
local C = require "recx.llm.config"
local tensor = recx.tensor

local function dir(name) return U.FIXTURES .. "llama_tiny_" .. name end

T.case("logits equal transformers' on the six tiny models (1e-5)", function()
  for _, name in ipairs(U.TINY) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local logits = recx.no_grad(m.forward, m, ref.input_ids)
    T.eq(logits:dtype(), "f32", name)
    T.ok(U.maxdiff(logits, ref.logits) <= 1e-5, name .. ": max diff " .. U.maxdiff(logits, ref.logits))
    local last = recx.no_grad(m.forward, m, ref.input_ids, {logits_at = "last"})
    T.ok(U.maxdiff(last, ref.logits:select(2, -1)) <= 1e-5, name .. ": logits_at last")
  end
end)

T.case("left-padded batch with a mask: HF's logits, and the non-pad logits equal the unpadded ones", function()
  for _, name in ipairs(U.TINY) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local pl = recx.no_grad(m.forward, m, ref.padded_ids, {attention_mask = ref.padded_mask})
    local real = pl:select(1, 2):narrow(1, 4, 4)
    T.ok(U.maxdiff(real, ref.padded_logits:select(1, 2):narrow(1, 4, 4)) <= 1e-5, name .. ": vs HF")
    T.ok(U.maxdiff(real, ref.logits:select(1, 2):narrow(1, 1, 4)) <= 1e-5, name .. ": vs unpadded")
    T.ok(U.maxdiff(pl:select(1, 1), ref.logits:select(1, 1)) <= 1e-5, name .. ": unpadded row")
    -- a bool mask gives the same
    local pb = recx.no_grad(m.forward, m, ref.padded_ids, {attention_mask = ref.padded_mask:ne(0)})
    T.eq(U.maxdiff(pb, pl), 0, name .. ": bool mask")
  end
end)

T.case("loss (shifted, -100 ignored) and weight gradients equal HF's", function()
  for _, name in ipairs(U.TINY) do
    U.check_loss_and_grads(T, llama.load(dir(name)), U.reference(name), name)
  end
end)

T.case("pad id row gets no gradient (HF padding_idx), tied head shares the embedding", function()
  local m = llama.load(dir("gqa"))
  T.eq(m.config.pad_token_id, 0)
  local ref = U.reference("gqa")
  m:loss(ref.input_ids, ref.labels):backward()
  local g = m.model.embed_tokens.weight:grad():select(1, 1)
  T.eq(U.maxdiff(g, tensor.zeros(g:shape())), 0)
  local t = llama.load(dir("tied"))
  T.ok(t.lm_head.weight == t.model.embed_tokens.weight, "one tensor")
  local names = {}
  for _, e in ipairs(t:named_parameters()) do names[#names + 1] = e[1] end
  T.eq(names[1], "model.embed_tokens.weight")
  T.ok(not table.concat(names, " "):find("lm_head"), "lm_head listed once, under the embedding's name")
  T.ok(t:state_dict()["lm_head.weight"] ~= nil, "state_dict has both names")
  T.eq(getmetatable(t.model.layers[1].self_attn.q_proj), recx.nn.Linear)
  T.eq(getmetatable(t.model.layers[2].mlp.down_proj), recx.nn.Linear)
end)

T.case("parameter names and shapes are HF's (qwen2: q/k/v biases only, mistral head_dim 16)", function()
  local q = llama.load(dir("qwen2"))
  local sd = q:state_dict()
  T.eq(sd["model.layers.0.self_attn.q_proj.bias"]:shape(), {32})
  T.eq(sd["model.layers.0.self_attn.k_proj.bias"]:shape(), {16})
  T.eq(sd["model.layers.0.self_attn.o_proj.bias"], nil)
  local b = llama.load(dir("bias"))
  T.ok(b:state_dict()["model.layers.1.self_attn.o_proj.bias"] ~= nil, "llama attention_bias: o_proj bias")
  T.ok(b:state_dict()["model.layers.1.mlp.up_proj.bias"] ~= nil, "mlp_bias")
  local mi = llama.load(dir("mistral"))
  T.eq(mi.config.head_dim, 16)
  T.eq(mi:state_dict()["model.layers.0.self_attn.q_proj.weight"]:shape(), {64, 32})
  T.eq(mi:state_dict()["model.layers.0.self_attn.k_proj.weight"]:shape(), {16, 32})
  T.eq(mi:state_dict()["model.layers.0.self_attn.o_proj.weight"]:shape(), {32, 64})
  T.eq(q.config.rope_theta, 1000000.0)
  T.eq(q.config.tie_word_embeddings, true)
end)

T.case("llama3 rope scaling: the three frequency bands, and it matters for the logits", function()
  local c = C.normalize({vocab_size = 8, hidden_size = 32, intermediate_size = 8, num_hidden_layers = 1,
    num_attention_heads = 4, rope_parameters = {rope_type = "llama3", rope_theta = 10000.0, factor = 8.0,
      low_freq_factor = 1.0, high_freq_factor = 4.0, original_max_position_embeddings = 64}})
  local f = C.inv_freq_list(c)
  -- D = 8: base 1, 0.1, 0.01, 0.001 -> wavelengths 6.3 (< 16: kept), 62.8 (between 16 and 64:
  -- smoothed with s = (64 / 62.83 - 1) / 3), 628 and 6283 (> 64: divided by 8)
  T.near(f[1], 1.0, 1e-7)
  local wl = 2 * math.pi / 0.1
  local s = (64 / wl - 1) / 3
  T.near(f[2], (1 - s) * 0.1 / 8 + s * 0.1, 1e-7)
  T.near(f[3], 0.01 / 8, 1e-7)
  T.near(f[4], 0.001 / 8, 1e-7)
  local m = llama.load(dir("llama3"))
  local ref = U.reference("llama3")
  m.inv_freq = C.inv_freq_list(C.normalize({vocab_size = 64, hidden_size = 32, intermediate_size = 64,
    num_hidden_layers = 2, num_attention_heads = 4}))
  local plain = recx.no_grad(m.forward, m, ref.input_ids)
  T.ok(U.maxdiff(plain, ref.logits) > 1e-4, "without the scaling the logits differ")
end)

T.case("dtypes: bf16 and f16 loads keep logits f32 and close; f64 tight", function()
  local ref = U.reference("gqa")
  for dt, tol in pairs({bf16 = 0.1, f16 = 0.02, f64 = 1e-5}) do
    local m = llama.load(dir("gqa"), {dtype = dt})
    T.eq(m.model.layers[1].self_attn.q_proj.weight:dtype(), dt)
    local logits = recx.no_grad(m.forward, m, ref.input_ids)
    T.eq(logits:dtype(), "f32")
    local d = U.maxdiff(logits, ref.logits)
    T.ok(d <= tol, string.format("%s: max diff %.3g > %g", dt, d, tol))
    T.eq(m:loss(ref.input_ids, ref.labels):dtype(), "f32")
  end
end)

T.case("sharded folder (model.safetensors.index.json)", function()
  local src = llama.load(dir("bias"))
  local d = U.tmpdir("shards")
  local a, b = {}, {}
  local map = {}
  for i, e in ipairs(src:named_parameters()) do
    local shard = i % 2 == 0 and "model-00001-of-00002.safetensors" or "model-00002-of-00002.safetensors"
    local list = i % 2 == 0 and a or b
    list[#list + 1] = {e[1], e[2]:detach()}
    map[#map + 1] = string.format("%q: %q", e[1], shard)
  end
  recx.safetensors.save(d .. "/model-00001-of-00002.safetensors", a)
  recx.safetensors.save(d .. "/model-00002-of-00002.safetensors", b)
  local f = assert(io.open(d .. "/model.safetensors.index.json", "w"))
  f:write('{"metadata": {}, "weight_map": {' .. table.concat(map, ", ") .. "}}")
  f:close()
  local cf = assert(io.open(dir("bias") .. "/config.json")):read("a")
  f = assert(io.open(d .. "/config.json", "w"))
  f:write(cf)
  f:close()
  local m = llama.load(d)
  local ref = U.reference("bias")
  T.ok(U.maxdiff(recx.no_grad(m.forward, m, ref.input_ids), ref.logits) <= 1e-5, "sharded logits")
  T.eq(m.source, d)
  U.rmdir(d)
end)

T.case("save_hf -> load gives identical logits; transformers reads recx's folder", function()
  local pairs, dirs = {}, {}
  for _, name in ipairs({"tied", "qwen2", "llama3", "mistral"}) do
    local m = llama.load(dir(name))
    local ref = U.reference(name)
    local d = U.tmpdir("save_" .. name)
    local files = m:save_hf(d)
    T.eq(files, {"config.json", "model.safetensors"})
    local m2 = llama.load(d)
    local a = recx.no_grad(m.forward, m, ref.input_ids)
    T.eq(U.maxdiff(recx.no_grad(m2.forward, m2, ref.input_ids), a), 0, name .. ": round trip")
    T.eq(m2.config.tie_word_embeddings, m.config.tie_word_embeddings)
    T.eq(m2.config.rope_scaling ~= nil, m.config.rope_scaling ~= nil)
    recx.safetensors.save(d .. "/expect.safetensors", {input_ids = ref.input_ids, logits = a})
    pairs[#pairs + 1] = {d, d .. "/expect.safetensors"}
    dirs[#dirs + 1] = d
  end
  U.check_with_transformers(T, pairs, 4)
  for _, d in ipairs(dirs) do U.rmdir(d) end
  -- bf16 folder: config says bfloat16, weights stored as bf16, loads back as f32 when asked
  local m = llama.load(dir("gqa"))
  local d = U.tmpdir("save_bf16")
  m:save_hf(d, {dtype = "bf16"})
  local st = recx.safetensors.open(d .. "/model.safetensors")
  T.eq(st:get("model.norm.weight"):dtype(), "bf16")
  st:close()
  T.ok(assert(io.open(d .. "/config.json")):read("a"):find('"torch_dtype":"bfloat16"', 1, true), "torch_dtype")
  T.eq(llama.load(d).model.norm.weight:dtype(), "f32")
  U.rmdir(d)
end)

T.case("resize_token_embeddings: kept rows, new rows N(0, 0.02), tied head follows", function()
  for _, name in ipairs({"gqa", "tied"}) do
    local m = llama.load(dir(name))
    local old = m.model.embed_tokens.weight:clone()
    local old_head = m.lm_head.weight:clone()
    m:resize_token_embeddings(2064, {generator = tensor.generator(3)})
    T.eq(m.model.embed_tokens.weight:shape(), {2064, 32})
    T.eq(m.lm_head.weight:shape(), {2064, 32})
    T.eq(m.config.vocab_size, 2064)
    T.eq(U.maxdiff(m.model.embed_tokens.weight:narrow(1, 1, 64), old), 0)
    T.eq(U.maxdiff(m.lm_head.weight:narrow(1, 1, 64), old_head), 0)
    local new = U.flatten(m.model.embed_tokens.weight:narrow(1, 65, 2000):tolist(), {})
    local s, s2 = 0, 0
    for _, v in ipairs(new) do s = s + v; s2 = s2 + v * v end
    local mean, sd = s / #new, math.sqrt(s2 / #new - (s / #new) ^ 2)
    T.ok(math.abs(mean) < 0.001 and math.abs(sd - 0.02) < 0.001, string.format("mean %g sd %g", mean, sd))
    T.eq(m.lm_head.weight == m.model.embed_tokens.weight, name == "tied")
    T.ok(m.model.embed_tokens.weight:requires_grad(), "a trainable leaf")
    local logits = recx.no_grad(m.forward, m, U.ids({{5, 2063, 7}}))
    T.eq(logits:shape(), {1, 3, 2064})
  end
end)

T.case("inject: equals a model whose embedding rows were changed; gradients reach the values", function()
  local m = llama.load(dir("gqa"))
  local Tn = 5
  -- ids 60 and 61 appear once each, at flat positions 0*5+1 and 1*5+3
  local ids = U.ids({{1, 60, 4, 9, 3}, {7, 8, 5, 61, 2}})
  local values = (tensor.randn({2, 32}, {generator = tensor.generator(11)}) * 0.5):requires_grad(true)
  local index = tensor.from({1, 1 * Tn + 3}, {dtype = "i64"})
  local R = tensor.randn({2, Tn, 64}, {generator = tensor.generator(12)})
  local logits = m:forward(ids, {inject = {index = index, values = values}})
  ;(logits * R):sum():backward()
  local m2 = llama.load(dir("gqa"))
  recx.no_grad(function()
    local w = m2.model.embed_tokens.weight
    w:select(1, 61):add_(values:select(1, 1))
    w:select(1, 62):add_(values:select(1, 2))
  end)
  local logits2 = m2:forward(ids)
  ;(logits2 * R):sum():backward()
  T.ok(U.maxdiff(logits, logits2) <= 1e-6, "same logits")
  local g2 = m2.model.embed_tokens.weight:grad()
  T.ok(U.maxdiff(values:grad():select(1, 1), g2:select(1, 61)) <= 1e-6, "grad of value 1 = grad of row 60")
  T.ok(U.maxdiff(values:grad():select(1, 2), g2:select(1, 62)) <= 1e-6, "grad of value 2 = grad of row 61")
  T.ok(values:grad():abs():sum():item() > 0, "nonzero")
  -- two values at one slot add up; an empty injection changes nothing
  local twice = recx.no_grad(m.forward, m, ids, {inject = {index = tensor.from({1, 1}, {dtype = "i64"}),
    values = tensor.cat({values:detach():narrow(1, 1, 1), values:detach():narrow(1, 1, 1)}, 1) * 0.5}})
  local once = recx.no_grad(m.forward, m, ids, {inject = {index = tensor.from({1}, {dtype = "i64"}),
    values = values:detach():narrow(1, 1, 1)}})
  T.ok(U.maxdiff(twice, once) <= 1e-6, "duplicates sum")
  local none = recx.no_grad(m.forward, m, ids, {inject = {index = tensor.zeros({0}, {dtype = "i64"}),
    values = tensor.zeros({0, 32})}})
  T.eq(U.maxdiff(none, recx.no_grad(m.forward, m, ids)), 0)
end)

T.case("output_hidden and hidden_states: final-normed states, consistent with the head", function()
  local m = llama.load(dir("gqa"))
  local ref = U.reference("gqa")
  local logits, h = recx.no_grad(m.forward, m, ref.input_ids, {output_hidden = true})
  T.eq(h:shape(), {2, 7, 32})
  local h2 = recx.no_grad(m.hidden_states, m, ref.input_ids)
  T.eq(U.maxdiff(h, h2), 0)
  -- logits = h W^T computed here in Lua doubles for one position
  local hv = h:select(1, 2):select(1, 3):to("f64"):tolist()
  local W = m.lm_head.weight:to("f64"):tolist()
  local want = {}
  for v = 1, 64 do
    local s = 0
    for k = 1, 32 do s = s + hv[k] * W[v][k] end
    want[v] = s
  end
  T.ok(U.maxdiff(logits:select(1, 2):select(1, 3), tensor.from(want, {dtype = "f64"})) <= 1e-5, "head")
end)

T.case("new(): HF-style init from a seed; config checks", function()
  local cfg = {vocab_size = 50, hidden_size = 24, intermediate_size = 40, num_hidden_layers = 2,
    num_attention_heads = 6, num_key_value_heads = 2, pad_token_id = 3}
  local a = llama.new(cfg, {generator = tensor.generator(5)})
  local b = llama.new(cfg, {generator = tensor.generator(5)})
  T.eq(U.maxdiff(a.model.layers[2].mlp.up_proj.weight, b.model.layers[2].mlp.up_proj.weight), 0)
  T.eq(a.config.head_dim, 4)
  T.eq(a.config.rope_theta, 10000.0)
  T.eq(a.model.norm.weight:sum():item(), 24)
  T.eq(U.maxdiff(a.model.embed_tokens.weight:select(1, 4), tensor.zeros({24})), 0)
  local w = U.flatten(a.model.layers[1].self_attn.q_proj.weight:tolist(), {})
  local s2 = 0
  for _, v in ipairs(w) do s2 = s2 + v * v end
  T.ok(math.abs(math.sqrt(s2 / #w) - 0.02) < 0.003, "std 0.02")
  T.raises("num_key_value_heads (4) must divide num_attention_heads (6)", llama.new,
    {vocab_size = 8, hidden_size = 24, intermediate_size = 8, num_hidden_layers = 1, num_attention_heads = 6,
      num_key_value_heads = 4})
  T.raises("hidden_size: expected a positive integer", llama.new, {vocab_size = 8, intermediate_size = 8,
    num_hidden_layers = 1, num_attention_heads = 2})
  T.raises("rope_scaling: type 'yarn' is not supported", llama.new, {vocab_size = 8, hidden_size = 8,
    intermediate_size = 8, num_hidden_layers = 1, num_attention_heads = 2, rope_scaling = {type = "yarn", factor = 2}})
  T.raises("option dtype", llama.new, cfg, {dtype = "i32"})
  T.raises("unknown option 'dtyp'", llama.new, cfg, {dtyp = "f32"})
end)

T.case("forward and load errors name the argument", function()
  local m = llama.load(dir("gqa"))
  T.raises("forward: argument #2: expected ids (B, T) i64", m.forward, m, tensor.zeros({2, 3}))
  T.raises("attention_mask: expected shape (1, 3)", m.forward, m, U.ids({{1, 2, 3}}), {attention_mask = U.ids({{1, 1}})})
  T.raises("position_ids: expected shape (1, 3)", m.forward, m, U.ids({{1, 2, 3}}), {position_ids = U.ids({{0, 1}})})
  T.raises("inject.values: expected shape (1, 32)", m.forward, m, U.ids({{1, 2, 3}}),
    {inject = {index = U.ids({0}), values = tensor.zeros({1, 16})}})
  T.raises("inject.index: positions must lie in [0, 3)", m.forward, m, U.ids({{1, 2, 3}}),
    {inject = {index = U.ids({3}), values = tensor.zeros({1, 32})}})
  T.raises("inject.values: expected f32 on cpu", m.forward, m, U.ids({{1, 2, 3}}),
    {inject = {index = U.ids({0}), values = tensor.zeros({1, 32}, {dtype = "f64"})}})
  T.raises("logits_at: expected \"last\"", m.forward, m, U.ids({{1, 2}}), {logits_at = 3})
  T.raises("unknown option 'mask'", m.forward, m, U.ids({{1, 2}}), {mask = 1})
  T.raises("loss: argument #3: expected labels of the ids' shape (1, 2)", m.loss, m, U.ids({{1, 2}}), U.ids({{1}}))
  T.raises("config.json (not found)", llama.load, "/nonexistent_dir_recx")
  local d = U.tmpdir("broken")
  local cf = assert(io.open(dir("gqa") .. "/config.json")):read("a")
  local f = assert(io.open(d .. "/config.json", "w"))
  f:write(cf)
  f:close()
  T.raises("expected model.safetensors or model.safetensors.index.json", llama.load, d)
  local src = llama.load(dir("gqa"))
  local list = {}
  for _, e in ipairs(src:named_parameters()) do
    if e[1] ~= "model.norm.weight" then list[#list + 1] = {e[1], e[2]:detach()} end
  end
  list[#list + 1] = {"model.extra.weight", tensor.zeros({2})}
  recx.safetensors.save(d .. "/model.safetensors", list)
  T.raises("missing tensors: model.norm.weight", llama.load, d)
  list[#list] = {"model.norm.weight", tensor.zeros({31})}
  recx.safetensors.save(d .. "/model.safetensors", list)
  T.raises("'model.norm.weight': expected shape (32), got (31)", llama.load, d)
  list[#list] = {"model.norm.weight", tensor.zeros({32})}
  list[#list + 1] = {"model.extra.weight", tensor.zeros({2})}
  recx.safetensors.save(d .. "/model.safetensors", list)
  T.raises("unexpected tensors (not in a llama of this config): model.extra.weight", llama.load, d)
  U.rmdir(d)
end)

T.done()
