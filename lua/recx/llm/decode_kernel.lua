-- recx.llm.decode_kernel — a decoding session's steps as one CUDA kernel launch each
-- (recx.cuda.decoder, runtime/cuda/llama_decode.cu), for the models that kernel runs.
--
-- Owns: the decoder spec of a model and a decode_graph session's state (its cache, ids, pos,
-- key_padding), the logits buffer, and the two ways to step: step(next ids) -> logits (N, V) f32
-- (valid until the next step), and queue_greedy(ban) / wait(j): greedy steps whose argmax is fed
-- back on the device, their ids read later (decode_graph's greedy loop keeps a few queued).
-- The kernel takes f16/bf16 Llama-family models whose projections are plain nn.Linear (LoRA
-- adapters are merged or absent), without sliding windows and with biases on q/k/v only; for
-- anything else new() returns nil and the reason, and the caller keeps the op-by-op steps.
local recx = require "recx"
local tensor = recx.tensor

local M = {}

-- Why the kernel cannot run model, or nil when it might (the C side checks the dims).
local function refusal(model)
  if not (recx.cuda and recx.cuda.decoder) then return "this recx has no CUDA decoder" end
  local w = model.model.embed_tokens.weight
  if not tostring(w:device()):find("^cuda") then return "the model is not on a CUDA device" end
  local dt = w:dtype()
  if dt ~= "bf16" and dt ~= "f16" then return "the kernel takes bf16 or f16 weights, the model has " .. dt end
  for _, layer in ipairs(model.model.layers) do
    local a, m = layer.self_attn, layer.mlp
    if a.sliding_window then return "sliding-window attention" end
    if a.o_proj.bias or m.gate_proj.bias or m.up_proj.bias or m.down_proj.bias then
      return "biases outside the q/k/v projections"
    end
    if getmetatable(a.o_proj) ~= recx.nn.Linear or getmetatable(m.down_proj) ~= recx.nn.Linear then
      return "adapted projections (merge LoRA adapters first)"
    end
  end
  if getmetatable(model.lm_head) ~= recx.nn.Linear or model.lm_head.bias then return "an adapted or biased lm_head" end
  return nil
end

-- A decoder for a session of N rows: model, its cache (decode_graph's, filled by the prefill),
-- st (decode_graph's state: ids (N, 1), pos (N, 1), key_padding (N, L), inv_freq), stacked
-- (decode_graph's stacked q/k/v and gate/up weights, nil when a projection is not a plain
-- Linear) and slot (the next cache position); opts.trace records each step's phase times
-- (k.trace()). Returns a stepper or nil and the reason.
function M.new(model, cache, st, stacked, slot, opts)
  if not stacked then return nil, "adapted projections (merge LoRA adapters first)" end
  local why = refusal(model)
  if why then return nil, why end
  local c, body = model.config, model.model
  local layer = {}
  for l, lay in ipairs(body.layers) do
    layer[l] = {attn_norm = lay.input_layernorm.weight, qkv_w = stacked[l].qkv_w, qkv_b = stacked[l].qkv_b,
      o_w = lay.self_attn.o_proj.weight, mlp_norm = lay.post_attention_layernorm.weight, gu_w = stacked[l].gu_w,
      down_w = lay.mlp.down_proj.weight, cache_k = cache.k[l], cache_v = cache.v[l]}
  end
  local N = st.N
  local ids, pos = st.ids:view(N), st.pos:view(N)
  local dec
  dec, why = recx.cuda.decoder{layers = #body.layers, heads = c.num_attention_heads, kv_heads = c.num_key_value_heads,
    rms_eps = c.rms_norm_eps, embed = body.embed_tokens.weight, final_norm = body.norm.weight,
    lm_head = model.lm_head.weight, inv_freq = st.inv_freq, ids = ids, positions = pos,
    key_padding = st.key_padding, slot = slot, layer = layer, trace = opts and opts.trace}
  if not dec then return nil, why end
  local logits = tensor.empty({N, c.vocab_size}, {dtype = "f32", device = st.ids:device()})
  local k = {dec = dec}

  -- One step fed with next_ids (N) i64: the logits (N, V) f32 (the same tensor every step).
  function k.step(next_ids)
    st.ids:copy_(next_ids:view(N, 1))
    dec:step(logits)
    return logits
  end

  -- Queues one greedy step: the argmax of each row, ids in the list ban (at most 16, or nil)
  -- excluded, is fed back as the next step's ids on the device and recorded for k.wait.
  function k.queue_greedy(ban)
    dec:step(nil, {greedy = true, ban = ban})
  end

  -- The ids (a Lua list) of the j-th step since the decoder was made (1-based), once it has run.
  function k.wait(j)
    return dec:wait(j)
  end

  function k.steps() return dec:steps() end
  -- With opts.trace: where the last finished step spent its time (synchronize first):
  -- {phase = {P1..P5, each {prep, math, write, wait} in us averaged over the layers}, head =
  -- {prep, math, write}, total = us}.
  function k.trace()
    local t = dec:trace()
    if not t then return nil end
    local layers = (#t // 4 - 1) // 5
    local phase, total = {}, 0
    for i = 1, 5 do phase[i] = {0, 0, 0, 0} end
    for i, us in ipairs(t) do
      total = total + us
      local ph, k4 = (i - 1) // 4, (i - 1) % 4 + 1
      if ph < 5 * layers then phase[ph % 5 + 1][k4] = phase[ph % 5 + 1][k4] + us / layers end
    end
    local h = #t - 4
    return {phase = phase, head = {t[h + 1], t[h + 2], t[h + 3]}, total = total}
  end

  function k.close() dec:release() end
  return k
end

M.refusal = refusal
return M
