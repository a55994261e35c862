-- test_decode_kernel.lua — the host side of the one-kernel decoder (recx.cuda.decoder,
-- recx.llm.decode_kernel), which runs anywhere: malformed specs raise naming the field, a model
-- the kernel cannot run gives nil and the reason (CPU tensors here; f32 weights, shapes), and
-- the Lua sessions and generate fall back to the op-by-op steps. The kernel itself is checked on
-- a GPU by tests/gpu/test_lua_decode_kernel_cuda.lua.
local T = require "harness"
local recx = require "recx"
local llama = require "recx.llm.llama"
local gen = require "recx.llm.generate"
local decode_graph = require "recx.llm.decode_graph"
local decode_kernel = require "recx.llm.decode_kernel"
local tensor = recx.tensor

local CFG = {vocab_size = 64, hidden_size = 32, intermediate_size = 64, num_hidden_layers = 2,
  num_attention_heads = 2, num_key_value_heads = 1, rope_theta = 10000.0, rms_norm_eps = 1e-5,
  tie_word_embeddings = true, max_position_embeddings = 64, bos_token_id = 1, eos_token_id = 2, pad_token_id = 0}

local model = llama.new(CFG, {generator = tensor.generator(1)})
model:eval()
local cache = model:new_cache(2, 8)

-- A well-formed spec over model's CPU tensors; fields replaced by `over`.
local function spec(over)
  local body = model.model
  local layer = {}
  for l, lay in ipairs(body.layers) do
    local a, m = lay.self_attn, lay.mlp
    layer[l] = {attn_norm = lay.input_layernorm.weight,
      qkv_w = tensor.cat({a.q_proj.weight, a.k_proj.weight, a.v_proj.weight}, 1), o_w = a.o_proj.weight,
      mlp_norm = lay.post_attention_layernorm.weight, gu_w = tensor.cat({m.gate_proj.weight, m.up_proj.weight}, 1),
      down_w = m.down_proj.weight, cache_k = cache.k[l], cache_v = cache.v[l]}
  end
  local s = {layers = 2, heads = 2, kv_heads = 1, rms_eps = 1e-5, embed = body.embed_tokens.weight,
    final_norm = body.norm.weight, lm_head = model.lm_head.weight,
    inv_freq = tensor.from(model.inv_freq, {dtype = "f32"}), ids = tensor.zeros({2}, {dtype = "i64"}),
    positions = tensor.zeros({2}, {dtype = "i64"}), key_padding = tensor.zeros({2, 8}, {dtype = "bool"}), slot = 3,
    layer = layer}
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

T.case("a model on the CPU: nil and the reason, not an error", function()
  local dec, why = recx.cuda.decoder(spec())
  T.eq(dec, nil, "no decoder")
  T.ok(why:find("runs on CUDA devices", 1, true), "reason: " .. tostring(why))
end)

T.case("malformed specs raise naming the field", function()
  T.raises("field 'layers': expected an integer", function() recx.cuda.decoder(spec({layers = "two"})) end)
  T.raises("field ids: expected a tensor", function() recx.cuda.decoder(spec({ids = {1, 2}})) end)
  T.raises("field 'layer': expected a list of 2 layer tables", function()
    recx.cuda.decoder(spec({layer = {spec().layer[1]}}))
  end)
  local s = spec()
  s.layer[2].gu_w = nil
  T.raises("layer 1 field gu_w: expected a tensor", function() recx.cuda.decoder(s) end)
  T.raises("table expected, got number", function() recx.cuda.decoder(7) end)
  T.raises("heads a multiple of kv_heads", function() recx.cuda.decoder(spec({heads = 3, kv_heads = 2})) end)
end)

T.case("decode_kernel refuses CPU models and adapted projections with a reason", function()
  local k, why = decode_kernel.new(model, cache, {N = 2}, {}, 3)
  T.eq(k, nil, "no kernel on the CPU")
  T.ok(why:find("not on a CUDA device", 1, true), "reason: " .. tostring(why))
  local k2, why2 = decode_kernel.new(model, cache, {N = 2}, nil, 3)
  T.eq(k2, nil, "no kernel without stacked weights")
  T.ok(why2:find("merge LoRA adapters", 1, true), "reason: " .. tostring(why2))
  T.ok(decode_kernel.refusal(model):find("CUDA", 1, true), "refusal names the device")
end)

T.case("sessions and generate fall back to the op-by-op steps", function()
  recx.no_grad(function()
    local s = decode_graph.session(model, 1, 8, {graph = false})
    s.prefill(tensor.from({{1, 2, 3}}, {dtype = "i64"}), tensor.ones({1, 3}, {dtype = "i64"}))
    T.eq(s.path, "eager", "an eager session on the CPU")
    T.eq(s.greedy, nil, "no device greedy without the kernel")
    s.close()
  end)
  local a = gen.generate(model, {{1, 2, 3}}, {max_new_tokens = 5, stop = {}})
  local b = gen.generate(model, {{1, 2, 3}}, {max_new_tokens = 5, stop = {}, cuda_kernel = false})
  T.eq(a, b, "cuda_kernel = false changes nothing on the CPU")
  T.raises("option 'cuda_kernel': expected a boolean, got number", function()
    gen.generate(model, {{1, 2, 3}}, {max_new_tokens = 5, cuda_kernel = 1})
  end)
end)

T.case("a second prefill reuses a session: the same logits as a fresh session", function()
  local left_padded = require("llama_util").left_padded
  recx.no_grad(function()
    local function run(s, prompts, T0, steps)
      local ids, mask = left_padded(prompts, T0)
      local out = {s.prefill(ids, mask):clone()}
      local feed = tensor.from({5, 9}, {dtype = "i64"})
      for j = 1, steps do out[#out + 1] = s.step(feed):clone() end
      return out
    end
    local reused = decode_graph.session(model, 2, 16, {graph = false})
    run(reused, {{1, 2, 3, 4, 5}, {1, 9}}, 5, 6)
    local again = run(reused, {{1, 7, 7}, {1, 2, 3, 4, 5, 6, 8}}, 7, 5)
    local fresh = run(decode_graph.session(model, 2, 16, {graph = false}), {{1, 7, 7}, {1, 2, 3, 4, 5, 6, 8}}, 7, 5)
    for i = 1, #fresh do
      T.eq((again[i] - fresh[i]):abs():max():item(), 0.0, "logits " .. i .. " of the reused session")
    end
    T.raises("3 prompt rows for a session of 2 rows", function()
      reused.prefill(tensor.ones({3, 2}, {dtype = "i64"}), tensor.ones({3, 2}, {dtype = "i64"}))
    end)
  end)
end)

T.case("the greedy loop keeps the device `ahead` steps ahead and hands ids over in order", function()
  local events, queued_max = {}, 0
  local function queue(j)
    events[#events + 1] = "q" .. j
    queued_max = j
  end
  local function wait(j)
    T.ok(queued_max >= j and queued_max <= j + 2, string.format("step %d read with %d queued", j, queued_max))
    events[#events + 1] = "w" .. j
    return {10 * j}
  end
  local seen = {}
  local ran = decode_graph.pipelined(6, 3, queue, wait, function(j, ids) seen[#seen + 1] = {j, ids[1]} end)
  T.eq(ran, 6, "all steps queued")
  T.eq(table.concat(events, " "), "q1 q2 q3 w1 q4 w2 q5 w3 q6 w4 w5 w6", "queue and wait order")
  T.eq(seen, {{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}, {6, 60}}, "ids in order")
  events, queued_max = {}, 0
  local calls = 0
  ran = decode_graph.pipelined(20, 3, queue, wait, function(j) calls = j return j < 4 end)
  T.eq(calls, 4, "on_ids returning false stops the loop")
  T.eq(ran, 6, "the steps already queued are counted")
  T.eq(decode_graph.pipelined(0, 3, queue, wait, function() error("no step") end), 0, "zero steps")
end)

T.case("id rings need CUDA", function()
  if recx.cuda.is_available() then return end
  local ok, err = pcall(recx.cuda.id_ring, 3)
  T.ok(not ok and tostring(err):lower():find("cuda", 1, true), "an error naming CUDA: " .. tostring(err))
end)

T.done()
