-- test_lua_decode_kernel_cuda.lua — the one-kernel decoder (recx.cuda.decoder through
-- recx.llm.decode_kernel / decode_graph sessions / generate) against the op-by-op steps.
--
-- Models are random Llama-family models (weights N(0, 0.02) scaled up so that logits are not
-- flat) in bf16 or f16 on CUDA; the reference is the same weights widened to f32 and run by the
-- Lua step on the CPU. The kernel's logits must be as close to that reference as the op-by-op
-- CUDA steps of the same half-precision model are (rounding points differ, so not bit for bit),
-- for: GQA with tied embeddings (3 left-padded rows), MHA with q/k/v biases in f16 and 20 rows
-- (two 16-row tiles, a vocabulary that is not a multiple of 16), one row over 300 cached
-- positions (the keys split over blocks and combined). Greedy decoding on the device must give
-- exactly the host's argmax of the kernel's own logits (with banned ids), generate() with the
-- kernel must equal its host loop over the kernel's logits (stop ids, min_new_tokens), reorders
-- (beam search's) must keep rows consistent, and what the kernel cannot run or is misused for
-- must say so. Exits 77 (skipped) without a CUDA device.
local recx = require "recx"
local C = require "cuda_util"
C.require_device()
local T = require "harness"
local llama = require "recx.llm.llama"
local gen = require "recx.llm.generate"
local decode_graph = require "recx.llm.decode_graph"
local decode_kernel = require "recx.llm.decode_kernel"
local left_padded = require("llama_util").left_padded
local tensor = recx.tensor

local host, maxdiff, maxabs = C.host, C.maxdiff, C.maxabs

local GQA = {vocab_size = 512, hidden_size = 128, intermediate_size = 256, num_hidden_layers = 3,
  num_attention_heads = 4, num_key_value_heads = 2, rope_theta = 10000.0, rms_norm_eps = 1e-5,
  tie_word_embeddings = true, max_position_embeddings = 1024, bos_token_id = 1, eos_token_id = 2, pad_token_id = 0}
local MHA = {vocab_size = 1000, hidden_size = 256, intermediate_size = 512, num_hidden_layers = 2,
  num_attention_heads = 4, num_key_value_heads = 4, head_dim = 64, rope_theta = 100000.0, rms_norm_eps = 1e-6,
  tie_word_embeddings = false, qkv_bias = true, max_position_embeddings = 1024, bos_token_id = 1,
  eos_token_id = 2, pad_token_id = 0}

-- The model of config with seed's weights, scaled so that the logits are peaked, as dtype on device.
local function make(config, seed, dtype, device)
  local cfg = {}
  for k, v in pairs(config) do cfg[k] = v end
  local m = llama.new(cfg, {generator = tensor.generator(seed)})
  recx.no_grad(function()
    for _, p in ipairs(m:parameters()) do
      if p:dim() == 2 then p:mul_(4) end
    end
  end)
  m:to(dtype)
  m:to(device)
  m:eval()
  return m
end

-- A half-precision model on CUDA and its weights widened to f32 on the CPU.
local function pair(config, seed, dtype)
  local half = make(config, seed, dtype, "cuda")
  local ref = make(config, seed, dtype, "cpu")
  ref:to("f32")
  return half, ref
end

-- Runs `steps` steps of a kernel session, a graph session (kernel off) and the f32 CPU reference
-- over the same fed ids (the reference's argmax); checks the kernel is as close to the reference
-- as the graph steps are.
local function follow(config, seed, dtype, prompts, T0, steps, label)
  local half, ref = pair(config, seed, dtype)
  local N = #prompts
  local ids, mask = left_padded(prompts, T0)
  recx.no_grad(function()
    local sk = decode_graph.session(half, N, T0 + steps + 1, {kernel = true})
    local sg = decode_graph.session(half, N, T0 + steps + 1)
    local cache = ref:new_cache(N, T0 + steps + 1)
    local m = mask:clone()
    sk.prefill(ids, mask)
    sg.prefill(ids, mask)
    T.eq(sk.path, "kernel", label .. ": the session runs the kernel (" .. tostring(sk.kernel_refusal) .. ")")
    T.eq(sg.path, "graph", label .. ": without kernel = true the graph steps run")
    local r = ref:forward(ids, {cache = cache, attention_mask = m, logits_at = "last"})
    local worst_k, worst_g, worst_kg = 0, 0, 0
    for step = 1, steps do
      local next_ids = r:argmax(2):to("i64"):view(N)
      local a = sk.step(next_ids:to("cuda"))
      local b = sg.step(next_ids:to("cuda"))
      m = tensor.cat({m, tensor.ones({N, 1}, {dtype = "i64"})}, 2)
      r = ref:forward(next_ids:view(N, 1), {cache = cache, attention_mask = m, logits_at = "last"})
      local scale = maxabs(r)
      worst_k = math.max(worst_k, maxdiff(a, r) / scale)
      worst_g = math.max(worst_g, maxdiff(b, r) / scale)
      worst_kg = math.max(worst_kg, maxdiff(a, b) / scale)
    end
    T.ok(worst_k <= 2 * worst_g + 2e-3, string.format("%s: kernel vs f32 reference %.2e, graph steps vs reference %.2e "
      .. "(relative to max |logit|)", label, worst_k, worst_g))
    T.ok(worst_kg < (dtype == "bf16" and 0.05 or 0.01), string.format("%s: kernel vs graph steps %.2e", label, worst_kg))
    sk.close()
    sg.close()
  end)
end

T.case("kernel steps follow the op-by-op steps: GQA, tied, bf16, 3 left-padded rows", function()
  follow(GQA, 1, "bf16", {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}, 6, 12, "GQA bf16")
end)

T.case("kernel steps follow the op-by-op steps: MHA, q/k/v biases, f16, 20 rows, V % 16 = 8", function()
  local prompts = {}
  for b = 1, 20 do
    prompts[b] = {}
    for t = 1, 1 + b % 5 do prompts[b][t] = (b * 37 + t * 11) % 990 + 3 end
  end
  follow(MHA, 2, "f16", prompts, 5, 8, "MHA f16")
end)

T.case("kernel steps follow the op-by-op steps: one row over 300 positions (split keys)", function()
  local p = {}
  for t = 1, 300 do p[t] = (t * 7919) % 500 + 3 end
  follow(GQA, 3, "bf16", {p}, 300, 6, "long row")
  follow(GQA, 4, "bf16", {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}}, 20, 40,
    "one short row")
end)

T.case("greedy on the device equals the host's argmax of the kernel's logits, with bans", function()
  local half = make(GQA, 5, "bf16", "cuda")
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local ids, mask = left_padded(prompts, 6)
  local steps = 20
  recx.no_grad(function()
    -- the host loop: argmax of the logits with the banned columns at -inf
    local function host_loop(ban)
      local s = decode_graph.session(half, 3, 6 + steps + 1, {kernel = true})
      local logits = s.prefill(ids, mask)
      local out = {}
      local next_ids = logits:argmax(2):to("i64"):view(3)
      for j = 1, steps do
        logits = host(s.step(next_ids))
        for _, id in ipairs(ban) do logits:select(2, id + 1):fill_(-math.huge) end
        next_ids = logits:argmax(2):to("i64"):view(3)
        out[j] = next_ids:tolist()
      end
      s.close()
      return out, logits
    end
    local free = host_loop({})
    local seen = {}
    for _, row in ipairs(free) do
      for _, id in ipairs(row) do seen[#seen + 1] = id end
    end
    local ban = {seen[1], seen[5], seen[9]}
    local want = host_loop(ban)
    local s = decode_graph.session(half, 3, 6 + steps + 1, {kernel = true})
    local logits = s.prefill(ids, mask)
    T.ok(s.greedy ~= nil, "the kernel session offers device greedy")
    local got = {}
    local ran = s.greedy(logits:argmax(2):to("i64"):view(3), steps, function() return ban end,
      function(j, row) got[j] = row end)
    T.eq(ran, steps, "steps run")
    T.eq(got, want, "device greedy ids equal the host loop's (bans " .. table.concat(ban, ",") .. ")")
    for _, row in ipairs(got) do
      for _, id in ipairs(row) do T.ok(id ~= ban[1] and id ~= ban[2] and id ~= ban[3], "no banned id") end
    end
    -- stopping early: on_ids returning false ends the loop; queued steps still ran
    local s2 = decode_graph.session(half, 3, 6 + steps + 1, {kernel = true})
    local l2 = s2.prefill(ids, mask)
    local calls = 0
    s2.greedy(l2:argmax(2):to("i64"):view(3), steps, nil, function(j)
      calls = j
      return j < 4
    end)
    T.eq(calls, 4, "on_ids returning false stops the loop")
    s.close()
    s2.close()
  end)
end)

-- generate()'s greedy semantics written out over a kernel session's logits: first argmax per
-- row with banned ids (and the stop ids before min_new tokens) at -inf, finished rows fed pad.
local function host_generate(model, prompts, o)
  local N, T0 = #prompts, 0
  for _, p in ipairs(prompts) do T0 = math.max(T0, #p) end
  local ids, mask = left_padded(prompts, T0)
  local stop, out, done, n_done = {}, {}, {}, 0
  for _, id in ipairs(o.stop) do stop[id] = true end
  for r = 1, N do out[r] = {} end
  recx.no_grad(function()
    local s = decode_graph.session(model, N, T0 + o.max_new_tokens + 1, {kernel = true})
    local logits = host(s.prefill(ids, mask))
    T.eq(s.path, "kernel", "the reference loop runs the kernel too")
    for step = 1, o.max_new_tokens do
      for _, id in ipairs(o.banned or {}) do logits:select(2, id + 1):fill_(-math.huge) end
      if o.min_new_tokens and step - 1 < o.min_new_tokens then
        for _, id in ipairs(o.stop) do logits:select(2, id + 1):fill_(-math.huge) end
      end
      local next_ids = logits:argmax(2):view(N):tolist()
      for r = 1, N do
        if done[r] then
          next_ids[r] = 0
        else
          out[r][#out[r] + 1] = next_ids[r]
          if stop[next_ids[r]] then done[r], n_done = true, n_done + 1 end
        end
      end
      if n_done == N or step == o.max_new_tokens then break end
      logits = host(s.step(tensor.from(next_ids, {dtype = "i64"})))
    end
    s.close()
  end)
  return out
end

T.case("generate with the kernel equals generate's semantics over the kernel's logits", function()
  local half = make(GQA, 6, "bf16", "cuda")
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}, {1}}
  local base = gen.generate(half, prompts, {max_new_tokens = 24, stop = {}, cuda_kernel = true})
  T.eq(base, host_generate(half, prompts, {max_new_tokens = 24, stop = {}}), "plain greedy")
  -- stop ids taken from the free run, so that rows do stop
  local stop = {base[1][6], base[2][10]}
  for _, o in ipairs({{max_new_tokens = 24, stop = stop}, {max_new_tokens = 24, stop = stop, min_new_tokens = 12},
      {max_new_tokens = 24, stop = {}, banned = {base[3][2], base[4][3]}}}) do
    local with = {cuda_kernel = true}
    for k, v in pairs(o) do with[k] = v end
    T.eq(gen.generate(half, prompts, with), host_generate(half, prompts, o), string.format(
      "generate (min_new %s, %d stop ids, %s)", tostring(o.min_new_tokens), #o.stop, o.banned and "banned" or "no bans"))
  end
  local streamed = {}
  gen.generate(half, prompts, {max_new_tokens = 24, stop = {}, cuda_kernel = true, on_token = function(step, ids)
    streamed[step] = ids[1]
    return step < 7
  end})
  T.eq(#streamed, 7, "on_token's false stops after 7 tokens")
  for j = 1, 7 do T.eq(streamed[j], base[1][j], "streamed token " .. j) end
end)

T.case("reorders keep the kernel's rows consistent (in place and shrinking)", function()
  local half = make(GQA, 7, "bf16", "cuda")
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}, {1, 8, 8, 8}}
  local ids, mask = left_padded(prompts, 6)
  recx.no_grad(function()
    local sk = decode_graph.session(half, 4, 20, {kernel = true})
    local sg = decode_graph.session(half, 4, 20)
    local a, b = sk.prefill(ids, mask), sg.prefill(ids, mask)
    local feed = tensor.from({11, 12, 13, 14}, {dtype = "i64"})
    for j = 1, 3 do
      a, b = sk.step(feed:to("cuda")), sg.step(feed:to("cuda"))
    end
    local perm = tensor.from({3, 0, 2, 1}, {dtype = "i64"})
    sk.reorder(perm)
    sg.reorder(perm)
    a, b = sk.step(feed:to("cuda")), sg.step(feed:to("cuda"))
    T.ok(maxdiff(a, b) / maxabs(b) < 0.05, "after a permutation: " .. maxdiff(a, b))
    local keep = tensor.from({2, 0}, {dtype = "i64"})
    sk.reorder(keep)
    sg.reorder(keep)
    T.eq(sk.path, "kernel", "the shrunk session rebuilt its decoder")
    local f2 = tensor.from({21, 22}, {dtype = "i64"})
    for j = 1, 3 do
      a, b = sk.step(f2:to("cuda")), sg.step(f2:to("cuda"))
      T.ok(maxdiff(a, b) / maxabs(b) < 0.05, "after shrinking, step " .. j .. ": " .. maxdiff(a, b))
    end
    sk.close()
    sg.close()
  end)
end)

T.case("what the kernel cannot run or is misused for says so", function()
  local f32 = make(GQA, 8, "f32", "cuda")
  local s = decode_graph.session(f32, 1, 8, {kernel = true})
  s.prefill(tensor.from({{1, 2}}, {dtype = "i64"}), tensor.ones({1, 2}, {dtype = "i64"}))
  T.eq(s.path, "graph", "an f32 model keeps the graph steps")
  T.ok(tostring(s.kernel_refusal):find("bf16 or f16", 1, true), "and says why: " .. tostring(s.kernel_refusal))
  s.close()
  local half = make(GQA, 8, "bf16", "cuda")
  local cache = half:new_cache(2, 8)
  local st = {N = 2, ids = tensor.zeros({2, 1}, {dtype = "i64", device = "cuda"}),
    pos = tensor.zeros({2, 1}, {dtype = "i64", device = "cuda"}),
    key_padding = tensor.zeros({2, 8}, {dtype = "bool", device = "cuda"}),
    inv_freq = tensor.from(half.inv_freq, {dtype = "f32"}):to("cuda")}
  local function stacked()
    local out = {}
    for l, layer in ipairs(half.model.layers) do
      local a, m = layer.self_attn, layer.mlp
      out[l] = {qkv_w = tensor.cat({a.q_proj.weight, a.k_proj.weight, a.v_proj.weight}, 1),
        gu_w = tensor.cat({m.gate_proj.weight, m.up_proj.weight}, 1)}
    end
    return out
  end
  local k = decode_kernel.new(half, cache, st, stacked(), 1)
  T.ok(k ~= nil, "a decoder for the hand-made state")
  T.raises("not a greedy step", function()
    k.step(tensor.zeros({2}, {dtype = "i64"}))
    k.dec:wait(1)
  end)
  T.raises("was not queued", function() k.dec:wait(5) end)
  for _ = 2, 7 do k.step(tensor.zeros({2}, {dtype = "i64"})) end
  T.raises("the cache is full (8 positions)", function() k.step(tensor.zeros({2}, {dtype = "i64"})) end)
  k.close()
  local bad = half:new_cache(2, 8)
  bad.k[2] = tensor.zeros({2, 2, 8, 16}, {dtype = "bf16", device = "cuda"})
  T.raises("layer 1 cache_k: expected shape (2, 2, 8, 32)", function() decode_kernel.new(half, bad, st, stacked(), 1) end)
  T.raises("slot 8: expected a cache position in [0, 8)", function() decode_kernel.new(half, cache, st, stacked(), 8) end)
end)

T.done()
