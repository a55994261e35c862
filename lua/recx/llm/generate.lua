-- recx.llm.generate — text generation with a KV-cached causal LM: greedy, sampling (temperature,
-- top-k, top-p), repetition penalty, banned ids and banned id sequences, min/max new tokens, stop
-- ids, streaming callback, and beam search (recx.llm.beam) with Hugging Face's semantics.
--
-- Owns: turning prompts into a LEFT-padded (B, T) i64 batch with an attention mask, the prefill
-- and the one-token decode steps through the model's cache, the per-step score processing
-- (recx.llm.sampling, all tensor ops over (B, V)) and collecting the new ids per row.
-- Model contract (recx.llm.llama):
--   cache = model:new_cache(B, max_len); cache:reorder(idx (B) i64 0-based rows)
--   model:forward(ids (B, T) i64, {cache =, attention_mask = (B, past + T) i64 (1 = real),
--                 logits_at = "last"}) -> (B, V) f32
--   model.config.eos_token_id (number or list), pad_token_id
-- A model without new_cache (forward(ids) -> (B, T, V), no mask) is run on the whole sequence at
-- every step; it accepts only batches that need no padding.
-- Use:
--   local gen = require "recx.llm.generate"
--   local out = gen.generate(model, {{1, 5, 9}, {1, 7}}, {max_new_tokens = 20})  -- out[b] = new ids
--   local out, scores = gen.generate(model, {ids}, {num_beams = 5, num_return_sequences = 5})
local recx = require "recx"
local sampling = require "recx.llm.sampling"
local beam = require "recx.llm.beam"
local decode_graph = require "recx.llm.decode_graph"
local tensor = recx.tensor

local M = {}

local OPTIONS = {
  max_new_tokens = true, min_new_tokens = true, do_sample = true, temperature = true, top_k = true,
  top_p = true, repetition_penalty = true, stop = true, banned = true, generator = true,
  on_token = true, num_beams = true, num_return_sequences = true, length_penalty = true,
  early_stopping = true, return_prompt = true, attention_mask = true, pad_id = true, cuda_graph = true, cuda_kernel = true,
}

local function fail(fmt, ...)
  error("generate: " .. string.format(fmt, ...), 0)
end

local function is_int(v) return math.type(v) == "integer" end

local function id_list(v)
  if type(v) == "number" then return {v} end
  return v
end

-- Checks opts and fills defaults from the model's config; returns a normalised table.
local function settings(model, opts)
  for k in pairs(opts) do
    if not OPTIONS[k] then fail("unknown option '%s'", tostring(k)) end
  end
  local cfg = model.config or {}
  local o = {}
  o.max_new = opts.max_new_tokens or 20
  o.min_new = opts.min_new_tokens or 0
  if not is_int(o.max_new) or o.max_new < 0 then
    fail("option 'max_new_tokens': expected an integer >= 0, got %s", tostring(o.max_new))
  end
  if not is_int(o.min_new) or o.min_new < 0 then
    fail("option 'min_new_tokens': expected an integer >= 0, got %s", tostring(o.min_new))
  end
  o.do_sample = opts.do_sample or false
  o.temperature = opts.temperature or 1.0
  if type(o.temperature) ~= "number" or o.temperature <= 0 then
    fail("option 'temperature': expected a number > 0, got %s", tostring(o.temperature))
  end
  o.top_k = opts.top_k or 0
  if not is_int(o.top_k) or o.top_k < 0 then
    fail("option 'top_k': expected an integer >= 0 (0 = off), got %s", tostring(o.top_k))
  end
  o.top_p = opts.top_p or 1.0
  if type(o.top_p) ~= "number" or o.top_p <= 0 or o.top_p > 1 then
    fail("option 'top_p': expected a number in (0, 1], got %s", tostring(o.top_p))
  end
  o.repetition_penalty = opts.repetition_penalty or 1.0
  if type(o.repetition_penalty) ~= "number" or o.repetition_penalty <= 0 then
    fail("option 'repetition_penalty': expected a number > 0, got %s", tostring(o.repetition_penalty))
  end
  local stop = opts.stop or (cfg.eos_token_id and id_list(cfg.eos_token_id)) or {}
  if type(stop) ~= "table" then fail("option 'stop': expected a list of ids, got %s", type(stop)) end
  o.stop_list, o.stop = {}, {}
  for i, id in ipairs(stop) do
    if not is_int(id) or id < 0 then fail("option 'stop': element #%d: expected an id >= 0, got %s", i, tostring(id)) end
    o.stop_list[i] = id
    o.stop[id] = true
  end
  o.banned_ids, o.banned_seqs = {}, {}
  for i, entry in ipairs(opts.banned or {}) do
    local seq = id_list(entry)
    if type(seq) ~= "table" or #seq == 0 then
      fail("option 'banned': element #%d: expected an id or a non-empty list of ids", i)
    end
    for j, id in ipairs(seq) do
      if not is_int(id) or id < 0 then
        fail("option 'banned': element #%d: entry #%d: expected an id >= 0, got %s", i, j, tostring(id))
      end
    end
    if #seq == 1 then o.banned_ids[#o.banned_ids + 1] = seq[1] else o.banned_seqs[#o.banned_seqs + 1] = seq end
  end
  o.num_beams = opts.num_beams or 1
  if not is_int(o.num_beams) or o.num_beams < 1 then
    fail("option 'num_beams': expected an integer >= 1, got %s", tostring(o.num_beams))
  end
  o.num_return = opts.num_return_sequences or 1
  if not is_int(o.num_return) or o.num_return < 1 then
    fail("option 'num_return_sequences': expected an integer >= 1, got %s", tostring(o.num_return))
  end
  if o.num_beams > 1 and o.num_return > o.num_beams then
    fail("option 'num_return_sequences': %d is more than num_beams (%d)", o.num_return, o.num_beams)
  end
  if o.num_beams > 1 and o.do_sample then fail("option 'do_sample': beam sampling is not supported (num_beams = %d)", o.num_beams) end
  if o.num_beams > 1 and opts.on_token then fail("option 'on_token': streaming needs num_beams = 1") end
  o.length_penalty = opts.length_penalty or 1.0
  if type(o.length_penalty) ~= "number" then fail("option 'length_penalty': expected a number") end
  o.early_stopping = opts.early_stopping or false
  if o.early_stopping ~= true and o.early_stopping ~= false and o.early_stopping ~= "never" then
    fail("option 'early_stopping': expected true, false or \"never\", got %s", tostring(o.early_stopping))
  end
  if opts.on_token ~= nil and type(opts.on_token) ~= "function" then
    fail("option 'on_token': expected a function, got %s", type(opts.on_token))
  end
  o.on_token = opts.on_token
  o.generator = opts.generator
  o.return_prompt = opts.return_prompt or false
  o.pad = opts.pad_id or cfg.pad_token_id or o.stop_list[1] or 0
  if opts.cuda_graph ~= nil and type(opts.cuda_graph) ~= "boolean" then
    fail("option 'cuda_graph': expected a boolean, got %s", type(opts.cuda_graph))
  end
  o.cuda_graph = opts.cuda_graph ~= false
  if opts.cuda_kernel ~= nil and type(opts.cuda_kernel) ~= "boolean" then
    fail("option 'cuda_kernel': expected a boolean, got %s", type(opts.cuda_kernel))
  end
  o.cuda_kernel = opts.cuda_kernel == true
  return o
end

-- Prompts as Lua lists of real ids: a list of id lists, or a (B, T) tensor whose padding is marked
-- by mask (B, T) (0 = padding, anywhere in the row).
local function prompt_rows(prompts, mask)
  local rows = {}
  if tensor.is_tensor(prompts) then
    if prompts:dim() ~= 2 then fail("argument #2: expected ids of shape (B, T), got %d dims", prompts:dim()) end
    if mask ~= nil and not (tensor.is_tensor(mask) and mask:dim() == 2 and mask:size(1) == prompts:size(1)
        and mask:size(2) == prompts:size(2)) then
      fail("option 'attention_mask': expected a tensor of shape (%d, %d) like the ids", prompts:size(1), prompts:size(2))
    end
    local ids = prompts:tolist()
    local m = mask and mask:to("i64"):tolist()
    for b, row in ipairs(ids) do
      local r = {}
      for t, id in ipairs(row) do
        if not m or m[b][t] ~= 0 then r[#r + 1] = id end
      end
      rows[b] = r
    end
  else
    if type(prompts) ~= "table" or #prompts == 0 then
      fail("argument #2: expected a non-empty list of id lists or a (B, T) tensor")
    end
    for b, p in ipairs(prompts) do
      if type(p) ~= "table" then fail("argument #2: element #%d: expected a list of ids, got %s", b, type(p)) end
      local r = {}
      for t, id in ipairs(p) do
        if not is_int(id) or id < 0 then fail("argument #2: element #%d: entry #%d: expected an id >= 0, got %s", b, t, tostring(id)) end
        r[t] = id
      end
      rows[b] = r
    end
  end
  for b, r in ipairs(rows) do
    if #r == 0 then fail("argument #2: prompt #%d is empty (it needs at least one id, e.g. BOS)", b) end
  end
  return rows
end

-- Left-pads rows: ids (B, T) i64, mask (B, T) i64, T.
local function left_pad(rows, pad)
  local T = 0
  for _, r in ipairs(rows) do T = math.max(T, #r) end
  local ids, mask = {}, {}
  for b, r in ipairs(rows) do
    local ir, mr, off = {}, {}, T - #r
    for t = 1, T do
      ir[t] = t > off and r[t - off] or pad
      mr[t] = t > off and 1 or 0
    end
    ids[b], mask[b] = ir, mr
  end
  return tensor.from(ids, {dtype = "i64"}), tensor.from(mask, {dtype = "i64"}), T
end

-- The decoding session: prefill(ids, mask) and step(next (N) i64) -> logits (N, V); reorder(idx);
-- close(). On CUDA the steps replay a captured graph (recx.llm.decode_graph) unless o.cuda_graph
-- is false; with o.cuda_kernel (opt-in: slower than the graphs today, see docs/benchmarks.md) they
-- run the one-kernel decoder (recx.llm.decode_kernel) for the models it takes.
-- keep: the caller may keep the session for later calls (the one greedy/sampling decode of a
-- batch): the graph session of a model is then kept between generate calls (returned with true)
-- and reused while N, the rounded max_len, the path and every parameter (same tensor, same
-- version) are unchanged, so its graphs are captured once, not at every call.
local kept = setmetatable({}, {__mode = "k"}) -- model -> {key =, s =, params = {{tensor, version}, ...}}

local function params_unchanged(model, snapshot)
  local ps = model:parameters()
  if #ps ~= #snapshot then return false end
  for i, p in ipairs(ps) do
    if snapshot[i][1] ~= p or snapshot[i][2] ~= p:version() then return false end
  end
  return true
end

local function session(model, N, max_len, o, keep)
  if o.cuda_graph and model.new_cache and decode_graph.supported(model) then
    if not keep then return decode_graph.session(model, N, max_len, {kernel = o.cuda_kernel}), false end
    max_len = (max_len + 31) // 32 * 32
    local key = string.format("%d:%d:%s", N, max_len, tostring(o.cuda_kernel))
    local k = kept[model]
    if k and k.key == key and params_unchanged(model, k.params) then return k.s, true end
    if k then k.s.close() end
    kept[model] = nil
    local s = decode_graph.session(model, N, max_len, {kernel = o.cuda_kernel})
    local snapshot = {}
    for i, p in ipairs(model:parameters()) do snapshot[i] = {p, p:version()} end
    kept[model] = {key = key, s = s, params = snapshot}
    return s, true
  end
  local s = {close = function() end}
  if model.new_cache then
    local cache = model:new_cache(N, max_len)
    local mask
    function s.prefill(ids, m)
      mask = m
      return model:forward(ids, {cache = cache, attention_mask = mask, logits_at = "last"})
    end
    function s.step(next_ids)
      local n = next_ids:size(1)
      mask = tensor.cat({mask, tensor.ones(n, 1, {dtype = "i64", device = mask:device()})}, 2)
      return model:forward(next_ids:view(n, 1), {cache = cache, attention_mask = mask, logits_at = "last"})
    end
    function s.reorder(idx)
      cache:reorder(idx)
      mask = mask:index_select(1, idx)
    end
  else
    local seq
    local function last(logits) return logits:select(2, -1):contiguous() end
    function s.prefill(ids, m)
      if m:min():item() == 0 then
        fail("argument #1: the model has no new_cache (no attention mask), so prompts must have equal lengths")
      end
      seq = ids
      return last(model:forward(seq))
    end
    function s.step(next_ids)
      seq = tensor.cat({seq, next_ids:view(-1, 1)}, 2)
      return last(model:forward(seq))
    end
    function s.reorder(idx) seq = seq:index_select(1, idx) end
  end
  return s
end

-- Score processing shared by all decoders. rows[r] = the real ids of row r so far (prompt and
-- generated); n_new = tokens generated so far. Returns the processed (N, V) scores.
local function processor(o, V, rows, device)
  local p = {}
  local banned = #o.banned_ids > 0 and sampling.ban_row(V, o.banned_ids, device) or nil
  local no_stop = #o.stop_list > 0 and o.min_new > 0 and sampling.ban_row(V, o.stop_list, device) or nil
  local seen
  if o.repetition_penalty ~= 1.0 then
    local idx, val, width = {}, {}, 0
    for _, r in ipairs(rows) do width = math.max(width, #r) end
    for i, r in ipairs(rows) do
      idx[i], val[i] = {}, {}
      for t = 1, width do idx[i][t], val[i][t] = r[t] or 0, r[t] and 1 or 0 end
    end
    seen = tensor.zeros(#rows, V, {device = device}):scatter_add(2, tensor.from(idx, {dtype = "i64", device = device}),
      tensor.from(val, {device = device}))
  end
  function p.add(next_ids) -- (N) i64 tokens just appended to the rows (after any reorder)
    if seen then
      seen = seen:scatter_add(2, next_ids:to(device):view(-1, 1), tensor.ones(next_ids:size(1), 1, {device = device}))
    end
  end
  function p.reorder(idx)
    if seen then seen = seen:index_select(1, idx:to(device)) end
  end
  function p.apply(scores, n_new)
    if seen then scores = sampling.repetition_penalty(scores, seen, o.repetition_penalty) end
    if banned then scores = sampling.ban(scores, banned) end
    if #o.banned_seqs > 0 then
      local at = {}
      for r, row in ipairs(rows) do
        for _, sq in ipairs(o.banned_seqs) do
          local n, ok = #sq, #row >= #sq - 1
          for j = 1, n - 1 do
            if not ok then break end
            ok = row[#row - (n - 1) + j] == sq[j]
          end
          if ok then
            at[r] = at[r] or {}
            at[r][#at[r] + 1] = sq[n]
          end
        end
      end
      scores = sampling.ban_at(scores, at)
    end
    if no_stop and n_new < o.min_new then scores = sampling.ban(scores, no_stop) end
    if o.do_sample then
      if o.temperature ~= 1.0 then scores = sampling.temperature(scores, o.temperature) end
      if o.top_k > 0 then scores = sampling.top_k(scores, o.top_k) end
      if o.top_p < 1.0 then scores = sampling.top_p(scores, o.top_p) end
    end
    return scores
  end
  return p
end

-- The bans of greedy decoding at new-token index n_new (0-based) as a function n_new -> list of
-- ids, when the device can decode greedily by itself (the session's kernel applies bans, not
-- the other processors); nil otherwise.
local function device_bans(o)
  if o.do_sample or o.repetition_penalty ~= 1.0 or #o.banned_seqs > 0 then return nil end
  local always, early = {}, {}
  for _, id in ipairs(o.banned_ids) do always[#always + 1], early[#early + 1] = id, id end
  for _, id in ipairs(o.stop_list) do early[#early + 1] = id end
  if #early > 16 then return nil end
  return function(n_new) return (n_new < o.min_new and #o.stop_list > 0) and early or always end
end

-- The prefill and token steps of decode (greedy / sampling), filling out[r] with row r's new ids.
-- When the session decodes greedily on the device (s.greedy), the steps after the first run
-- there, the host reading each step's ids while the next ones run.
local function decode_steps(s, o, rows, ids, mask, out)
  local N, done, n_done = #rows, {}, 0
  local logits = s.prefill(ids, mask)
  local proc = processor(o, logits:size(2), rows, logits:device())
  -- Takes the ids (a list, rewritten: pad for finished rows) of new token `step`; false when
  -- decoding ends with it.
  local function accept(step, next_ids)
    local shown = {}
    for r = 1, N do
      if done[r] then
        next_ids[r], shown[r] = o.pad, false
      else
        local id = next_ids[r]
        out[r][#out[r] + 1], rows[r][#rows[r] + 1], shown[r] = id, id, id
        if o.stop[id] then done[r], n_done = true, n_done + 1 end
      end
    end
    if o.on_token and o.on_token(step, shown) == false then return false end
    return n_done < N and step < o.max_new
  end
  local bans = s.greedy and device_bans(o)
  for step = 1, o.max_new do
    local scores = proc.apply(logits, step - 1)
    local next_t = o.do_sample and sampling.sample(scores, o.generator) or sampling.greedy(scores)
    local next_ids = next_t:tolist()
    if not accept(step, next_ids) then break end
    next_t = tensor.from(next_ids, {dtype = "i64"})
    if bans then
      s.greedy(next_t:to(logits:device()), o.max_new - step, function(j) return bans(step + j - 1) end,
        function(j, ids) return accept(step + j, ids) end)
      break
    end
    proc.add(next_t)
    logits = s.step(next_t)
  end
end

-- Greedy / sampling: one token per row per step; rows that hit a stop id are fed the pad id.
local function decode(model, o, rows)
  local N = #rows
  local ids, mask, T = left_pad(rows, o.pad)
  local out = {}
  for r = 1, N do out[r] = {} end
  if o.max_new == 0 then return out end
  local s, is_kept = session(model, N, T + o.max_new, o, true)
  local ok, err = pcall(decode_steps, s, o, rows, ids, mask, out)
  if not ok and is_kept then kept[model] = nil end -- its state is unknown after an error
  if not (ok and is_kept) then s.close() end
  if not ok then error(err, 0) end
  return out
end

-- generate(model, prompts, opts) -> list of new-id lists (or prompt + new with return_prompt),
-- and for num_beams > 1 the list of their scores. See the file header and docs/lua-api.md.
function M.generate(model, prompts, opts)
  opts = opts or {}
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    fail("argument #1: expected a model with a forward method")
  end
  if type(opts) ~= "table" then fail("argument #3: expected an options table, got %s", type(opts)) end
  local o = settings(model, opts)
  local given = prompt_rows(prompts, opts.attention_mask)
  local copies = o.num_beams > 1 and o.num_beams or o.num_return
  local rows = {}
  for b, r in ipairs(given) do
    for c = 1, copies do
      local copy = {}
      for t, id in ipairs(r) do copy[t] = id end
      rows[(b - 1) * copies + c] = copy
    end
  end
  local out, scores, owner
  recx.no_grad(function()
    if o.num_beams > 1 then
      local ids, mask, T = left_pad(rows, o.pad)
      local s = session(model, #rows, T + o.max_new, o)
      local ok, a, b, c = pcall(beam.search, s, ids, mask, rows, o, function(V, dev) return processor(o, V, rows, dev) end)
      s.close()
      if not ok then error(a, 0) end
      out, scores, owner = a, b, c
    else
      out = decode(model, o, rows)
    end
  end)
  if o.return_prompt then
    for i, seq in ipairs(out) do
      local full = {}
      for t, id in ipairs(given[owner and owner[i] or (i - 1) // copies + 1]) do full[t] = id end
      for _, id in ipairs(seq) do full[#full + 1] = id end
      out[i] = full
    end
  end
  return out, scores
end

-- Frees the decoding sessions generate keeps between calls (of model, or of every model): their
-- KV caches and captured graphs.
function M.release_sessions(model)
  for m, k in pairs(kept) do
    if model == nil or m == model then
      k.s.close()
      kept[m] = nil
    end
  end
end

-- greedy(model, prompt, {max_new = 64, stop = list of ids}) -> the prompt followed by the new ids
-- (one prompt; the stop id is kept).
function M.greedy(model, prompt, opts)
  opts = opts or {}
  local out = M.generate(model, {prompt}, {max_new_tokens = opts.max_new or 64, stop = opts.stop,
    return_prompt = true})
  return out[1]
end

return M
