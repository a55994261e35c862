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
-- The step writes k and v into the full-length cache at `slot`, marks the slot visible, attends
-- over all L slots with key_padding (causal is implied: later slots are not yet visible), and
-- advances slot and pos by one.
-- Fused path (every projection a plain nn.Linear, i.e. no LoRA adapters): the session stacks
-- q/k/v and gate/up weights into one matrix each (copies made when the session starts), so a
-- layer is 9 kernels: add_rmsnorm_ (the previous residual add fused with the norm), one q/k/v
-- linear, rope_append_kv (rope of q and k, k and v written into the cache), attention, o_proj,
-- add_rmsnorm_, one gate/up linear, swiglu_packed, down_proj. Otherwise each op runs unfused. The
-- first step runs eagerly (it loads kernels and fills the allocator's cache), the second is
-- captured, and every step from then on is a replay.
-- The logits returned by step() are the graph's output tensor: valid until the next step.
-- Greedy on the device (s.greedy(first, n, ban_at, on_ids), CUDA): a second graph holds the step,
-- the banned ids added as -inf, the argmax fed back into ids and pushed to an id ring
-- (recx.cuda.id_ring) that the host reads a few steps behind, so the host's per-step work (the
-- Lua loop, reading the ids) overlaps the device's steps.
-- Kernel path (opts.kernel = true; opt-in, slower than the graphs today): when
-- recx.llm.decode_kernel takes the model (f16/bf16 plain Linears on CUDA, see that file), every
-- step after the prefill is one launch of the one-kernel decoder instead of a graph replay, and
-- the session also offers greedy(first, n, ban_at, on_ids): greedy steps whose ids are fed back
-- on the device (s.path says which path runs).
-- Not for: sliding-window models (the window would move with the slot), models with a dropout in
-- training mode (LoRA's adapter dropout before model:eval(): a replay would repeat the captured
-- step's random draws), models off CUDA; generate takes the Lua steps for those.
local recx = require "recx"
local decode_kernel = require "recx.llm.decode_kernel"
local F = recx.nn.functional
local tensor = recx.tensor

local M = {}

-- Steps the device runs ahead of the host in greedy decoding.
local AHEAD = 3

-- Runs count greedy steps with the host up to `ahead` steps behind the device: queue(j) queues
-- step j, wait(j) returns its ids (a list); on_ids(j, ids) is called for j = 1, 2, ... in order and
-- stops the loop by returning false (the steps already queued still run). Returns the number of
-- steps queued.
function M.pipelined(count, ahead, queue, wait, on_ids)
  local queued, done = 0, 0
  while done < count do
    while queued < count and queued - done < ahead do
      queued = queued + 1
      queue(queued)
    end
    done = done + 1
    if on_ids(done, wait(done)) == false then break end
  end
  return queued
end

-- Whether a captured step would replay model correctly on any device: full attention in every
-- layer and no dropout drawing random numbers.
function M.replayable(model)
  if not (model.model and model.model.embed_tokens and model.model.layers) then return false end
  for _, layer in ipairs(model.model.layers) do
    if layer.self_attn.sliding_window then return false end
  end
  local Dropout = recx.nn.Dropout
  for _, e in ipairs(model:named_modules()) do
    local mod = e[2]
    if getmetatable(mod) == Dropout and mod.training and mod.p > 0 then return false end
  end
  return true
end

-- Whether generate should decode model through graphs: replayable and on CUDA.
function M.supported(model)
  if not (recx.cuda and recx.cuda.graph and M.replayable(model)) then return false end
  return tostring(model.model.embed_tokens.weight:device()):find("^cuda") ~= nil
end

-- Stacked weights of every layer {qkv_w, qkv_b, gu_w, gu_b}, or nil when a projection is not a
-- plain nn.Linear (LoRA adapters: the unfused step runs them as modules).
local function stacked_weights(model)
  local plain = recx.nn.Linear
  local out = {}
  recx.no_grad(function()
    for l, layer in ipairs(model.model.layers) do
      local a, m = layer.self_attn, layer.mlp
      for _, mod in ipairs({a.q_proj, a.k_proj, a.v_proj, m.gate_proj, m.up_proj}) do
        if getmetatable(mod) ~= plain then out = nil return end
      end
      local function cat(mods, field)
        local parts = {}
        for i, mod in ipairs(mods) do
          parts[i] = mod[field]
          if parts[i] == nil then return nil end
        end
        return tensor.cat(parts, 1)
      end
      out[l] = {qkv_w = cat({a.q_proj, a.k_proj, a.v_proj}, "weight"), qkv_b = cat({a.q_proj, a.k_proj, a.v_proj}, "bias"),
        gu_w = cat({m.gate_proj, m.up_proj}, "weight"), gu_b = cat({m.gate_proj, m.up_proj}, "bias")}
    end
  end)
  return out
end

-- What every step starts with: the new slot made visible, the rope tables of the rows' positions
-- (N, 1, D) and the embedded ids (N, 1, C).
local function step_inputs(model, st)
  st.key_padding:copy_at_(2, st.slot, st.visible)
  local cos, sin = F.rope_tables(st.pos, st.inv_freq, st.dtype)
  return cos, sin, model.model.embed_tokens(st.ids)
end

-- What every step ends with: the logits (N, V) f32 of the final-normed hidden states hn (N, 1, C),
-- and slot and pos advanced by one.
local function step_logits(model, st, hn)
  local logits = model.lm_head(hn:select(2, -1))
  if logits:dtype() ~= "f32" then logits = logits:to("f32") end
  st.slot:add_(1)
  st.pos:add_(1)
  return logits
end

-- The fused step (see the file header): x is the residual stream, updated in place.
local function fused_step_body(model, cache, st, stacked)
  local c = model.config
  local N, H, G, D, eps = st.N, c.num_attention_heads, c.num_key_value_heads, c.head_dim, c.rms_norm_eps
  local body = model.model
  local cos, sin, x = step_inputs(model, st)
  local pending -- the last down_proj output, still to be added to x
  for l, layer in ipairs(body.layers) do
    local a, w = layer.self_attn, stacked[l]
    local h
    if pending then
      h = F.add_rmsnorm_(x, pending, layer.input_layernorm.weight, eps)
    else
      h = layer.input_layernorm(x)
    end
    local qkv = F.linear(h, w.qkv_w, w.qkv_b) -- (N, 1, (H + 2G) D)
    local q = F.rope_append_kv(qkv, cos, sin, cache.k[l], cache.v[l], st.slot, H, G) -- (N, H, 1, D)
    local o = F.attention(q, cache.k[l], cache.v[l], {key_padding = st.key_padding})
    local ao = a.o_proj(o:transpose(2, 3):reshape(N, 1, H * D))
    local h2 = F.add_rmsnorm_(x, ao, layer.post_attention_layernorm.weight, eps)
    pending = layer.mlp.down_proj(F.swiglu_packed(F.linear(h2, w.gu_w, w.gu_b)))
  end
  return step_logits(model, st, F.add_rmsnorm_(x, pending, body.norm.weight, eps))
end

-- The logits (N, V) f32 of the step described by st (see the file header); updates the cache,
-- key_padding, slot and pos in place. Runs only device work (no host reads), so it can be captured.
local function step_body(model, cache, st)
  local c = model.config
  local N, H, G, D = st.N, c.num_attention_heads, c.num_key_value_heads, c.head_dim
  local body = model.model
  local cos, sin, x = step_inputs(model, st)
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
  return step_logits(model, st, body.norm(x))
end

-- A session for N rows and up to max_len cached positions (prompt + new tokens). opts.kernel
-- (default false): the one-kernel decoder when it takes the model (opts.trace: with phase times,
-- s.trace()); opts.fused (default true): the fused step when the model allows it; opts.graph
-- (default true): false runs
-- every step eagerly (the same device work without a capture: also on the CPU, for tests).
function M.session(model, N, max_len, opts)
  opts = opts or {}
  local w = model.model.embed_tokens.weight
  local dev, dtype = w:device(), w:dtype()
  local cache = model:new_cache(N, max_len)
  local st = {N = N, dtype = dtype}
  local n = 0 -- positions written (host mirror of slot)
  local graph, graph_logits, warmed = nil, nil, false
  local all_stacked = (opts.fused ~= false or opts.kernel == true) and stacked_weights(model) or nil
  local stacked = opts.fused ~= false and all_stacked or nil
  local kern -- the one-kernel decoder, when it takes the model
  local function run_step()
    return recx.no_grad(function()
      if stacked then return fused_step_body(model, cache, st, stacked) end
      return step_body(model, cache, st)
    end)
  end
  local s = {fused = stacked ~= nil, path = opts.graph == false and "eager" or "graph"}

  -- greedy on the device through graphs: a second graph (step, bans, argmax fed back into ids,
  -- the ids pushed to a ring the host reads steps behind), its ring and the (1, V) ban row
  local ggraph, gwarmed, ring, ban_row, ban_key = nil, false, nil, nil, nil
  local pushed = 0 -- records pushed to the current ring
  local on_cuda = tostring(dev):find("^cuda") ~= nil

  local function drop_graph()
    if graph then graph:release() end
    if ggraph then ggraph:release() end
    graph, graph_logits, warmed, ggraph, gwarmed = nil, nil, false, nil, false
  end

  local function greedy_body()
    recx.no_grad(function()
      local ids = (run_step() + ban_row):argmax(2) -- (N) i64
      st.ids:copy_(ids:view(N, 1))
      ring:push(ids)
    end)
  end

  -- The ban row for a list of ids (rewritten on the device only when the list changes).
  local function set_bans(list)
    local key = table.concat(list or {}, ",")
    if key == ban_key then return end
    local V = model.config.vocab_size
    local row = {}
    for j = 1, V do row[j] = 0 end
    for _, id in ipairs(list or {}) do
      if math.type(id) ~= "integer" or id < 0 or id >= V then
        error(string.format("generate: banned id %s out of range [0, %d)", tostring(id), V), 0)
      end
      row[id + 1] = -math.huge
    end
    ban_row = ban_row or tensor.zeros({1, V}, {device = dev})
    ban_row:copy_(tensor.from({row}))
    ban_key = key
  end

  -- Fails unless k more positions fit in the cache.
  local function need(k)
    if n + k > max_len then
      error(string.format("generate: cache: %d cached + %d new position(s) exceed max_len %d", n, k, max_len), 0)
    end
  end

  -- One greedy step through graphs: the first eager, the second captured, then replays.
  local function queue_graph_greedy()
    if ggraph then
      ggraph:replay()
    elseif not gwarmed then
      greedy_body()
      gwarmed = true
    else
      ggraph = recx.cuda.graph(greedy_body, tostring(dev))
      ggraph:replay()
    end
  end

  -- Greedy steps on the device (the kernel's when it runs, else the graphs'), the host reading
  -- each step's ids while the next ones run: feeds first (N) i64, then up to count steps; see
  -- M.pipelined for on_ids. ban_at(j) -> the ids step j may not pick (at most 16), or nil.
  local function greedy(first, count, ban_at, on_ids)
    need(count)
    st.ids:copy_(first:view(N, 1))
    local queue, wait -- the counts (n, pushed) follow every queued step, even if on_ids raises
    if kern then
      local base = kern.steps()
      queue = function(j)
        kern.queue_greedy(ban_at and ban_at(j))
        n = n + 1
      end
      wait = function(j) return kern.wait(base + j) end
    else
      ring = ring or recx.cuda.id_ring(N, tostring(dev))
      local base = pushed
      queue = function(j)
        set_bans(ban_at and ban_at(j))
        queue_graph_greedy()
        n, pushed = n + 1, pushed + 1
      end
      wait = function(j) return ring:wait(base + j) end
    end
    return M.pipelined(count, AHEAD, queue, wait, on_ids)
  end

  -- The kernel decoder for the current rows, or the reason (s.kernel_refusal) it is not used.
  local function start_kernel()
    if kern then kern.close() end
    kern = nil
    s.greedy = on_cuda and opts.graph ~= false and greedy or nil
    if opts.kernel ~= true or opts.graph == false then return end
    local why
    kern, why = decode_kernel.new(model, cache, st, all_stacked, n, {trace = opts.trace})
    s.trace = kern and kern.trace or nil
    s.path, s.kernel_refusal = kern and "kernel" or "graph", why
  end

  -- A second prefill reuses the session: the state is rewritten in place, so the captured graphs
  -- stay valid (generate keeps sessions between calls of the same shape).
  function s.prefill(ids, mask)
    local T = ids:size(2)
    if ids:size(1) ~= N then
      error(string.format("generate: session: %d prompt rows for a session of %d rows", ids:size(1), N), 0)
    end
    cache:reset()
    local logits = model:forward(ids, {cache = cache, attention_mask = mask, logits_at = "last"})
    n = T
    local m = mask:to("cpu"):ne(0) -- (N, T) bool
    local kp = tensor.zeros({N, max_len}, {dtype = "bool"})
    kp:narrow(2, 1, T):copy_(m)
    local pos = m:to("i64"):sum(2):view(N, 1)
    if st.ids then
      st.pos:copy_(pos)
      st.slot:copy_(tensor.from({T}, {dtype = "i64"}))
      st.key_padding:copy_(kp)
    else
      st.ids = tensor.zeros({N, 1}, {dtype = "i64", device = dev})
      st.pos = pos:to(dev)
      st.slot = tensor.from({T}, {dtype = "i64"}):to(dev)
      st.key_padding = kp:to(dev)
      st.visible = tensor.ones({N, 1}, {dtype = "bool", device = dev})
      st.inv_freq = tensor.from(model.inv_freq, {dtype = "f32"}):to(dev)
    end
    start_kernel()
    return logits
  end

  function s.step(next_ids)
    need(1)
    if kern then
      n = n + 1
      return kern.step(next_ids)
    end
    st.ids:copy_(next_ids:view(N, 1))
    local logits
    if opts.graph == false then
      logits = run_step()
    elseif graph then
      graph:replay()
      logits = graph_logits
    elseif not warmed then
      logits = run_step()
      warmed = true
    else
      graph, graph_logits = recx.cuda.graph(run_step, tostring(dev))
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
    -- the kernel decoder keeps each row's first position and counts its steps
    local pos = kern and st.pos + kern.steps() or st.pos
    st.pos = pos:index_select(1, index)
    st.ids = tensor.zeros({N, 1}, {dtype = "i64", device = dev})
    st.visible = tensor.ones({N, 1}, {dtype = "bool", device = dev})
    drop_graph()
    if ring then ring:release() end
    ring, pushed = nil, 0
    start_kernel()
  end

  -- Frees the graph and its memory now (also done by the collector).
  function s.close()
    drop_graph()
    if kern then kern.close() end
    if ring then ring:release() end
    kern, ring = nil, nil
  end

  return s
end

return M
