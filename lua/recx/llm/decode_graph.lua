-- recx.llm.decode_graph — the one-token decode step of a Llama-family model on CUDA, captured
-- once as a CUDA graph (recx.cuda.graph) and replayed for every later token.
--
-- Owns: a decoding session with generate's contract (prefill(ids, mask) -> (N, V) logits,
-- step(next (N) i64) -> (N, V) logits, reorder(idx), close()) whose steps run the ~20 kernels per
-- layer of the model's forward as one graph launch instead of one Lua call and launch each.
-- A graph replays the same kernels on the same memory, so everything that changes from step to
-- step lives in device tensors that the step itself updates:
--   ids (N, 1) i64           the tokens fed (copied in before each replay)
--   pos (N, 1) i64           each row's next rope position (HF's: the count of real tokens so far)
--   slot (1) i64             the cache slot written by this step (every row the same)
--   key_padding (N, L) bool  which cache slots a query may see (left padding false, unwritten false)
-- The step writes k and v into the full-length cache at `slot` (copy_at_), marks the slot visible,
-- attends over all L slots with key_padding (causal is implied: later slots are not yet visible),
-- and advances slot and pos by one. The first step runs eagerly (it loads kernels and fills the
-- allocator's cache), the second is captured, and every step from then on is a replay.
-- The logits returned by step() are the graph's output tensor: valid until the next step.
-- Not for: sliding-window models (the window would move with the slot; generate falls back to the
-- Lua steps), models off CUDA.
local recx = require "recx"
local F = recx.nn.functional
local tensor = recx.tensor

local M = {}

-- Whether model can decode through a graph: on CUDA, full attention in every layer.
function M.supported(model)
  if not (recx.cuda and recx.cuda.graph and model.model and model.model.embed_tokens) then return false end
  local w = model.model.embed_tokens.weight
  if not tostring(w:device()):find("^cuda") then return false end
  for _, layer in ipairs(model.model.layers) do
    if layer.self_attn.sliding_window then return false end
  end
  return true
end

-- The logits (N, V) f32 of the step described by st (see the file header); updates the cache,
-- key_padding, slot and pos in place. Runs only device work (no host reads), so it can be captured.
local function step_body(model, cache, st)
  local c = model.config
  local N, H, G, D = st.N, c.num_attention_heads, c.num_key_value_heads, c.head_dim
  local body = model.model
  st.key_padding:copy_at_(2, st.slot, st.visible)
  local cos, sin = F.rope_tables(st.pos, st.inv_freq, st.dtype) -- (N, 1, D)
  local x = body.embed_tokens(st.ids) -- (N, 1, C)
  for l, layer in ipairs(body.layers) do
    local a = layer.self_attn
    local h = layer.input_layernorm(x)
    local q = F.rope(a.q_proj(h):view(N, 1, H, D):transpose(2, 3), cos, sin) -- (N, H, 1, D)
    local k = F.rope(a.k_proj(h):view(N, 1, G, D):transpose(2, 3), cos, sin) -- (N, G, 1, D)
    local v = a.v_proj(h):view(N, 1, G, D):transpose(2, 3)
    cache.k[l]:copy_at_(3, st.slot, k)
    cache.v[l]:copy_at_(3, st.slot, v)
    local o = F.attention(q, cache.k[l], cache.v[l], {key_padding = st.key_padding}) -- (N, H, 1, D)
    x = x + a.o_proj(o:transpose(2, 3):reshape(N, 1, H * D))
    x = x + layer.mlp(layer.post_attention_layernorm(x))
  end
  local logits = model.lm_head(body.norm(x):select(2, -1)) -- (N, V)
  if logits:dtype() ~= "f32" then logits = logits:to("f32") end
  st.slot:add_(1)
  st.pos:add_(1)
  return logits
end

-- A session for N rows and up to max_len cached positions (prompt + new tokens).
function M.session(model, N, max_len)
  local w = model.model.embed_tokens.weight
  local dev, dtype = w:device(), w:dtype()
  local cache = model:new_cache(N, max_len)
  local st = {N = N, dtype = dtype}
  local n = 0 -- positions written (host mirror of slot)
  local graph, graph_logits, warmed = nil, nil, false
  local s = {}

  local function drop_graph()
    if graph then graph:release() end
    graph, graph_logits, warmed = nil, nil, false
  end

  function s.prefill(ids, mask)
    local T = ids:size(2)
    local logits = model:forward(ids, {cache = cache, attention_mask = mask, logits_at = "last"})
    n = T
    local m = mask:to("cpu"):ne(0) -- (N, T) bool
    st.ids = tensor.zeros({N, 1}, {dtype = "i64", device = dev})
    st.pos = m:to("i64"):sum(2):view(N, 1):to(dev)
    st.slot = tensor.from({T}, {dtype = "i64"}):to(dev)
    local kp = tensor.zeros({N, max_len}, {dtype = "bool"})
    kp:narrow(2, 1, T):copy_(m)
    st.key_padding = kp:to(dev)
    st.visible = tensor.ones({N, 1}, {dtype = "bool", device = dev})
    st.inv_freq = tensor.from(model.inv_freq, {dtype = "f32"}):to(dev)
    drop_graph()
    return logits
  end

  function s.step(next_ids)
    if n + 1 > max_len then
      error(string.format("generate: cache: %d cached + 1 new position exceed max_len %d", n, max_len), 0)
    end
    st.ids:copy_(next_ids:view(N, 1))
    local logits
    if graph then
      graph:replay()
      logits = graph_logits
    elseif not warmed then
      logits = step_body(model, cache, st)
      warmed = true
    else
      graph, graph_logits = recx.cuda.graph(function() return step_body(model, cache, st) end, tostring(dev))
      graph:replay()
      logits = graph_logits
    end
    n = n + 1
    return logits
  end

  -- Keeps rows idx (a (N') i64 tensor of 0-based rows). With N' = N the buffers are rewritten in
  -- place and the graph stays valid; otherwise the session is rebuilt around new buffers.
  function s.reorder(idx)
    local index = idx:to(dev)
    if idx:numel() == N then
      recx.no_grad(function()
        for l = 1, #cache.k do
          cache.k[l]:copy_(cache.k[l]:index_select(1, index))
          cache.v[l]:copy_(cache.v[l]:index_select(1, index))
        end
        st.key_padding:copy_(st.key_padding:index_select(1, index))
        st.pos:copy_(st.pos:index_select(1, index))
      end)
      return
    end
    cache:reorder(idx)
    N = idx:numel()
    st.N = N
    st.key_padding = st.key_padding:index_select(1, index)
    st.pos = st.pos:index_select(1, index)
    st.ids = tensor.zeros({N, 1}, {dtype = "i64", device = dev})
    st.visible = tensor.ones({N, 1}, {dtype = "bool", device = dev})
    drop_graph()
  end

  -- Frees the graph and its memory now (also done by the collector).
  function s.close()
    drop_graph()
  end

  return s
end

return M
