-- test_generate_beam.lua — beam search (recx.llm.beam through recx.llm.generate) on the toy LM of
-- gen_toy.lua against a BRUTE-FORCE reference written here: every continuation up to L new tokens
-- is enumerated (a hypothesis ends at a stop id or at L tokens), scored in double precision as
-- sum of log-probs / (generated tokens incl. the stop id) ^ length_penalty, and the best 5 kept.
-- Beam search equals that exactly when no candidate is ever pruned: (a) beams wide enough to
-- hold every prefix, (b) num_beams = num_return_sequences = 5 with L = 2 and V <= 5 (every
-- first-step candidate ranks within the top 5, and a second-step candidate outside the top 5
-- has 5 better ones of the same length). Deeper 5-beam searches are checked for internally
-- consistent results (each score recomputed from the toy), batching, and cache reorders.
local T = require "harness"
local recx = require "recx"
local toy = require "gen_toy"
local gen = require "recx.llm.generate"

-- All hypotheses of `model` after `prompt`, best first: {ids = new ids, score =}.
local function brute(model, prompt, L, lp, opts)
  opts = opts or {}
  local stop = {[model.config.eos_token_id] = true}
  local banned = {}
  for _, id in ipairs(opts.banned or {}) do banned[id] = true end
  local hyps = {}
  local function walk(prefix, sum)
    local seq = {table.unpack(prompt)}
    for _, id in ipairs(prefix) do seq[#seq + 1] = id end
    local lp_row = toy.log_softmax(toy.logits_of(seq, model.V, model.seed, model.scale))
    for v = 0, model.V - 1 do
      local blocked = banned[v] or (stop[v] and #prefix < (opts.min_new or 0))
      if not blocked then
        local ids = {table.unpack(prefix)}
        ids[#ids + 1] = v
        local s = sum + lp_row[v + 1]
        if stop[v] or #ids == L then
          hyps[#hyps + 1] = {ids = ids, score = s / (#ids) ^ lp}
        else
          walk(ids, s)
        end
      end
    end
  end
  walk({}, 0)
  table.sort(hyps, function(a, b) return a.score > b.score end)
  return hyps
end

local function check_top(label, out, scores, want, n)
  T.eq(#out, n, label .. ": count")
  for i = 1, n do
    T.eq(out[i], want[i].ids, label .. ": hypothesis " .. i)
    T.near(scores[i], want[i].score, 1e-5, label .. ": score " .. i)
  end
end

T.case("wide beams (no pruning) equal brute force: length penalties, early stopping, padding", function()
  local prompts = {{0, 2}, {0, 2, 2, 0, 2}}
  for _, seed in ipairs({1, 2, 3}) do
    local m = toy.new{vocab = 3, eos = 1, seed = seed}
    for _, lp in ipairs({1.0, 0.0, 2.0, -0.5}) do
      for _, early in ipairs({false, true, "never"}) do
        local out, scores = gen.generate(m, prompts, {num_beams = 24, num_return_sequences = 5,
          max_new_tokens = 4, length_penalty = lp, early_stopping = early})
        for b, p in ipairs(prompts) do
          local label = string.format("seed %d lp %g early %s prompt %d", seed, lp, tostring(early), b)
          check_top(label, {table.unpack(out, 5 * b - 4, 5 * b)}, {table.unpack(scores, 5 * b - 4, 5 * b)},
            brute(m, p, 4, lp), 5)
        end
      end
    end
  end
end)

T.case("wide beams with min_new_tokens and a banned id equal brute force", function()
  local m = toy.new{vocab = 4, eos = 1, seed = 4}
  local p = {0, 3}
  local out, scores = gen.generate(m, {p}, {num_beams = 36, num_return_sequences = 5, max_new_tokens = 3,
    min_new_tokens = 2, banned = {2}})
  check_top("min_new 2, banned 2", out, scores, brute(m, p, 3, 1.0, {min_new = 2, banned = {2}}), 5)
end)

T.case("num_beams = num_return_sequences = 5 equals brute force (L = 2, V <= 5)", function()
  local n = 0
  for _, V in ipairs({3, 4, 5}) do
    for seed = 1, 6 do
      for _, scale in ipairs({0.5, 1.5}) do
        local m = toy.new{vocab = V, eos = 1, seed = seed, scale = scale}
        for _, lp in ipairs({1.0, 0.0, 2.0}) do
          for _, early in ipairs({false, true, "never"}) do
            local p = {0, seed % V}
            local out, scores = gen.generate(m, {p}, {num_beams = 5, num_return_sequences = 5,
              max_new_tokens = 2, length_penalty = lp, early_stopping = early})
            local want = brute(m, p, 2, lp)
            local k = math.min(5, #want)
            check_top(string.format("V %d seed %d scale %g lp %g early %s", V, seed, scale, lp, tostring(early)),
              out, scores, want, k)
            n = n + 1
          end
        end
      end
    end
  end
  T.eq(n, 324)
end)

-- Sum of log-probs of `ids` after `prompt` under the toy, in double.
local function seq_logprob(m, prompt, ids)
  local seq, s = {table.unpack(prompt)}, 0
  for _, id in ipairs(ids) do
    s = s + toy.log_softmax(toy.logits_of(seq, m.V, m.seed, m.scale))[id + 1]
    seq[#seq + 1] = id
  end
  return s
end

T.case("deep 5-beam search: scores recomputed, order, distinct, batch = separate runs, cache use", function()
  local prompts = {{0, 5, 6}, {0}, {0, 7, 7, 3, 2, 9, 4}}
  for _, lp in ipairs({1.0, 0.5, -1.0}) do
    for _, early in ipairs({false, true, "never"}) do
      local m = toy.new{vocab = 10, eos = 1, seed = 21, scale = 0.8}
      local opts = {num_beams = 5, num_return_sequences = 3, max_new_tokens = 7, length_penalty = lp,
        early_stopping = early}
      local out, scores = gen.generate(m, prompts, opts)
      local label = string.format("lp %g early %s", lp, tostring(early))
      T.eq(#out, 9, label)
      T.eq(m.calls[1], {15, 7}, label .. ": prefill of 3 x 5 beams")
      for i = 2, #m.calls do T.eq(m.calls[i], {15, 1}, label .. ": decode step") end
      for b, p in ipairs(prompts) do
        local seen = {}
        for i = 3 * b - 2, 3 * b do
          local ids = out[i]
          T.ok(ids[#ids] == 1 or #ids == 7, label .. ": ends at EOS or at max_new_tokens")
          T.near(scores[i], seq_logprob(m, p, ids) / (#ids) ^ lp, 1e-5, label .. ": score")
          T.ok(not seen[T.show(ids)], label .. ": distinct")
          seen[T.show(ids)] = true
          if i > 3 * b - 2 then T.ok(scores[i] <= scores[i - 1], label .. ": sorted") end
        end
        local alone, alone_scores = gen.generate(toy.new{vocab = 10, eos = 1, seed = 21, scale = 0.8}, {p}, opts)
        T.eq(alone, {table.unpack(out, 3 * b - 2, 3 * b)}, label .. ": prompt alone")
        T.near(alone_scores, {table.unpack(scores, 3 * b - 2, 3 * b)}, 1e-6, label .. ": scores alone")
      end
    end
  end
end)

T.case("return_prompt and max_new_tokens = 0 with beams", function()
  local m = toy.new{vocab = 6, eos = 1, seed = 2}
  local out = gen.generate(m, {{0, 4}, {0}}, {num_beams = 3, num_return_sequences = 2, max_new_tokens = 3})
  local full = gen.generate(m, {{0, 4}, {0}}, {num_beams = 3, num_return_sequences = 2, max_new_tokens = 3,
    return_prompt = true})
  T.eq(full[1], {0, 4, table.unpack(out[1])})
  T.eq(full[2], {0, 4, table.unpack(out[2])})
  T.eq(full[3], {0, table.unpack(out[3])})
  local none, s = gen.generate(m, {{0, 4}}, {num_beams = 3, num_return_sequences = 2, max_new_tokens = 0})
  T.eq(none, {{}, {}})
  T.eq(s, {0.0, 0.0})
end)

T.done()
