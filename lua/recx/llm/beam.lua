-- recx.llm.beam — beam search with the semantics of Hugging Face transformers' `_beam_search`
-- (the vectorised rewrite, transformers >= 4.50; checked against 5.24), for recx.llm.generate.
--
-- Owns the bookkeeping; the model, cache and score processors come from generate.lua. Per prompt
-- b with W = num_beams beams (rows (b-1)W+1 .. bW of the cache), per step:
--  1. scores = processors(log_softmax(logits)) + each beam's running sum of log-probs (beam 1
--     starts at 0, the others at -inf, so the first step expands one copy of the prompt); the
--     (W*V) candidates of prompt b are cut to the top K = max(2, 1 + #stop) * W (ties: lower
--     beam, then lower id).
--  2. a candidate "hits" when its token is a stop id or the step is the max_new_tokens-th.
--  3. the next running beams are the best W candidates that do not hit (if fewer exist, hitting
--     ones fill in as dead beams with score -inf).
--  4. finished hypotheses: only hitting candidates among the first W of the K (by raw sum of
--     log-probs) are kept, with score = sum_logprob / n^length_penalty, n = generated tokens
--     including the stop token; a heap of the W best finished per prompt is kept (a tie keeps
--     the older one). Nothing is added once the prompt is closed (below), nor, with
--     early_stopping = true, once its heap holds W hypotheses.
--  5. after the step (n = tokens generated now) a prompt whose heap is full closes when the best
--     running score / L^length_penalty <= its worst finished score, with L = max_new_tokens for
--     early_stopping = "never" and length_penalty > 0, else L = n.
--  6. the search ends when every prompt is closed, or (early_stopping = true) every heap is full,
--     or every candidate hit (max_new_tokens reached).
-- Result: per prompt, the num_return_sequences best finished hypotheses, best first (ids include
-- the stop token), and their scores. Differences from transformers: dead beams carry -inf where
-- transformers carries -1e9, so a prompt with fewer than num_return_sequences possible
-- hypotheses (tiny vocabularies) returns fewer rather than -1e9-scored filler.
local recx = require "recx"
local tensor = recx.tensor

local M = {}

local NEG_INF = -math.huge

local function copy_append(list, id)
  local out = {}
  for i, v in ipairs(list) do out[i] = v end
  out[#out + 1] = id
  return out
end

-- Inserts h into the descending list heap (ties after the equal ones), keeping at most cap.
local function heap_add(heap, h, cap)
  local pos = #heap + 1
  while pos > 1 and heap[pos - 1].score < h.score do pos = pos - 1 end
  if pos > cap then return end
  table.insert(heap, pos, h)
  if #heap > cap then heap[#heap] = nil end
end

-- s: decoding session (prefill/step/reorder); ids, mask: (N, T) left-padded prompts, N = B * W;
-- rows: N lists of real ids (updated in place as beams grow); o: generate's settings;
-- make_proc(V, device): the score processor over rows (its tensors on the logits' device). Returns out (lists of new ids), scores, owner
-- (owner[i] = the prompt of out[i]).
function M.search(s, ids, mask, rows, o, make_proc)
  local N, W = #rows, o.num_beams
  local B = N // W
  local out, scores, owner = {}, {}, {}
  if o.max_new == 0 then
    for b = 1, B do
      for _ = 1, o.num_return do
        out[#out + 1], scores[#scores + 1], owner[#owner + 1] = {}, 0.0, b
      end
    end
    return out, scores, owner
  end
  local logits = s.prefill(ids, mask)
  local V = logits:size(2)
  local dev = logits:device()
  local proc = make_proc(V, dev)
  local K = math.min(math.max(2, 1 + #o.stop_list) * W, W * V)
  local lp, early = o.length_penalty, o.early_stopping
  local run, gen = {}, {}
  for r = 1, N do
    run[r] = (r - 1) % W == 0 and 0.0 or NEG_INF
    gen[r] = {}
  end
  local heaps, open = {}, {}
  for b = 1, B do heaps[b], open[b] = {}, true end
  local n = 0
  while true do
    local acc = proc.apply(logits:log_softmax(2), n) + tensor.from(run, {device = dev}):view(N, 1)
    local tv, ti = acc:view(B, W * V):topk(K, 2)
    local vals, idx = tv:tolist(), ti:tolist()
    local all_hit = true
    local parent, token, score = {}, {}, {}
    for b = 1, B do
      local base = (b - 1) * W
      local full = #heaps[b] == W
      local may_add = open[b] and not (full and early == true)
      local live, dead = {}, {}
      for k = 1, K do
        local v, flat = vals[b][k], idx[b][k]
        local j, tok = flat // V, flat % V
        local hit = o.stop[tok] or n + 1 >= o.max_new
        if hit then
          dead[#dead + 1] = {j = j, tok = tok}
          if may_add and k <= W and v > NEG_INF then
            heap_add(heaps[b], {score = v / (n + 1) ^ lp, ids = copy_append(gen[base + j + 1], tok)}, W)
          end
        else
          all_hit = false
          if #live < W then live[#live + 1] = {j = j, tok = tok, v = v} end
        end
      end
      for w = 1, W do
        local c = live[w] or dead[w - #live] or {j = 0, tok = o.pad}
        parent[base + w], token[base + w], score[base + w] = base + c.j, c.tok, live[w] and c.v or NEG_INF
      end
    end
    n = n + 1
    local any_open, all_full = false, true
    for b = 1, B do
      local heap = heaps[b]
      if #heap < W then
        all_full = false
      elseif open[b] then
        local L = (early == "never" and lp > 0) and o.max_new or n
        if not (score[(b - 1) * W + 1] / L ^ lp > heap[#heap].score) then open[b] = false end
      end
      any_open = any_open or open[b]
    end
    if all_hit or not any_open or (early == true and all_full) then break end
    local new_rows, new_gen = {}, {}
    for r = 1, N do
      new_rows[r] = copy_append(rows[parent[r] + 1], token[r])
      new_gen[r] = copy_append(gen[parent[r] + 1], token[r])
    end
    for r = 1, N do rows[r], gen[r], run[r] = new_rows[r], new_gen[r], score[r] end
    local pidx = tensor.from(parent, {dtype = "i64"})
    s.reorder(pidx)
    proc.reorder(pidx)
    local next_t = tensor.from(token, {dtype = "i64"})
    proc.add(next_t)
    logits = s.step(next_t)
  end
  for b = 1, B do
    for i = 1, math.min(o.num_return, #heaps[b]) do
      local h = heaps[b][i]
      out[#out + 1], scores[#scores + 1], owner[#owner + 1] = h.ids, h.score, b
    end
  end
  return out, scores, owner
end

return M
