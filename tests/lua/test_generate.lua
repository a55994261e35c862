-- test_generate.lua — recx.llm.generate (greedy, sampling, processors, streaming) on the toy LM of
-- gen_toy.lua, against references computed here in double precision step by step from the toy's
-- hash logits (argmax, repetition penalty, banned ids and sequences, min_new_tokens, and the
-- temperature / top-k / top-p distributions checked by a chi-square bound over 5000 draws).
local T = require "harness"
local recx = require "recx"
local toy = require "gen_toy"
local gen = require "recx.llm.generate"
local tensor = recx.tensor

-- The reference decoder: opts as generate's (greedy only), computed from toy.logits_of in double.
local function ref_greedy(model, prompt, opts)
  local V, seq, out = model.V, {table.unpack(prompt)}, {}
  local stop = {}
  for _, id in ipairs(opts.stop or {model.config.eos_token_id}) do stop[id] = true end
  for step = 1, opts.max_new_tokens do
    local l = toy.logits_of(seq, V, model.seed, model.scale)
    if opts.repetition_penalty then
      local seen = {}
      for _, id in ipairs(seq) do seen[id] = true end
      for id in pairs(seen) do
        local x = l[id + 1]
        l[id + 1] = x > 0 and x / opts.repetition_penalty or x * opts.repetition_penalty
      end
    end
    for _, b in ipairs(opts.banned or {}) do
      if type(b) == "number" then
        l[b + 1] = -math.huge
      elseif #b == 1 then
        l[b[1] + 1] = -math.huge
      else
        local ok = #seq >= #b - 1
        for j = 1, #b - 1 do ok = ok and seq[#seq - (#b - 1) + j] == b[j] end
        if ok then l[b[#b] + 1] = -math.huge end
      end
    end
    if (opts.min_new_tokens or 0) > step - 1 then
      for id in pairs(stop) do l[id + 1] = -math.huge end
    end
    local best = 1
    for v = 2, V do if l[v] > l[best] then best = v end end
    local id = best - 1
    seq[#seq + 1], out[#out + 1] = id, id
    if stop[id] then break end
  end
  return out
end

local PROMPTS = {{0, 3, 5}, {0}, {0, 7, 2, 6, 4, 4}}

T.case("greedy equals the step-by-step argmax, batched with left padding, through the cache", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11}
  local out = gen.generate(m, PROMPTS, {max_new_tokens = 12})
  for b, p in ipairs(PROMPTS) do
    T.eq(out[b], ref_greedy(m, p, {max_new_tokens = 12}), "prompt " .. b)
  end
  -- one prefill of the padded batch (T = 6), then one token per step
  T.eq(m.calls[1], {3, 6})
  for i = 2, #m.calls do T.eq(m.calls[i], {3, 1}) end
  -- each row alone gives the same ids
  for b, p in ipairs(PROMPTS) do
    T.eq(gen.generate(toy.new{vocab = 8, eos = 1, seed = 11}, {p}, {max_new_tokens = 12})[1], out[b])
  end
end)

T.case("stop ids end a row (kept), other rows go on; max_new_tokens bounds the rest", function()
  -- under seed 1, vocabulary 6, these prompts mix rows that stop (EOS = 1) and rows that run on
  local m = toy.new{vocab = 6, eos = 1, seed = 1}
  local prompts = {{0}, {0, 2}, {0, 3}, {0, 2, 2}, {0, 3, 3, 2}}
  local out = gen.generate(m, prompts, {max_new_tokens = 9})
  local stopped, ran = 0, 0
  for b, p in ipairs(prompts) do
    local want = ref_greedy(m, p, {max_new_tokens = 9})
    T.eq(out[b], want, "prompt " .. b)
    if want[#want] == 1 then stopped = stopped + 1 else ran = ran + 1 end
    for i = 1, #out[b] - 1 do T.ok(out[b][i] ~= 1, "no EOS before the end") end
  end
  T.ok(stopped > 0 and ran > 0, string.format("the prompts should mix stopping (%d) and running (%d) rows", stopped, ran))
  -- custom stop list replaces EOS
  local out2 = gen.generate(m, prompts, {max_new_tokens = 9, stop = {2, 3}})
  for b, p in ipairs(prompts) do
    T.eq(out2[b], ref_greedy(m, p, {max_new_tokens = 9, stop = {2, 3}}), "stop {2, 3}, prompt " .. b)
  end
  T.eq(#gen.generate(m, {{0, 2}}, {max_new_tokens = 0})[1], 0)
end)

T.case("min_new_tokens bans the stop ids until reached", function()
  local m = toy.new{vocab = 4, eos = 1, seed = 3}
  local early
  for _, p in ipairs({{0}, {0, 2}, {0, 3}, {0, 2, 2}, {0, 3, 3, 2}, {0, 0}, {0, 2, 3}}) do
    local r = ref_greedy(m, p, {max_new_tokens = 9})
    if #r <= 3 and r[#r] == 1 then early = p break end
  end
  T.ok(early ~= nil, "a prompt whose greedy answer stops within 3 tokens")
  local out = gen.generate(m, {early}, {max_new_tokens = 12, min_new_tokens = 6})[1]
  T.ok(#out >= 6, "at least 6 tokens, got " .. #out)
  T.eq(out, ref_greedy(m, early, {max_new_tokens = 12, min_new_tokens = 6}))
end)

T.case("repetition penalty (HF: divide positive, multiply negative logits of seen ids)", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 5}
  for _, p in ipairs({1.5, 0.6}) do
    local out = gen.generate(m, PROMPTS, {max_new_tokens = 10, repetition_penalty = p})
    for b, pr in ipairs(PROMPTS) do
      T.eq(out[b], ref_greedy(m, pr, {max_new_tokens = 10, repetition_penalty = p}), "penalty " .. p .. " prompt " .. b)
    end
  end
  -- the penalty must change something on these prompts (else the check above proves little)
  local plain = gen.generate(m, PROMPTS, {max_new_tokens = 10})
  local pen = gen.generate(m, PROMPTS, {max_new_tokens = 10, repetition_penalty = 1.5})
  T.ok(T.show(plain) ~= T.show(pen), "repetition penalty 1.5 changes the output")
end)

T.case("banned ids and banned sequences (bad_words_ids)", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11}
  local plain = gen.generate(m, PROMPTS, {max_new_tokens = 12})
  -- ban the most frequent generated id and a 2-id sequence that occurs in the plain output
  local count, pair = {}, nil
  for _, row in ipairs(plain) do
    for i, id in ipairs(row) do
      count[id] = (count[id] or 0) + 1
      if i > 1 and not pair then pair = {row[i - 1], id} end
    end
  end
  local top = 0
  for id, c in pairs(count) do if id ~= 1 and c > (count[top] or 0) then top = id end end
  T.ok(pair ~= nil, "the plain output has a 2-id sequence to ban")
  local banned = {top, pair, {4, 4, 6}}
  local out = gen.generate(m, PROMPTS, {max_new_tokens = 12, banned = banned})
  for b, p in ipairs(PROMPTS) do
    T.eq(out[b], ref_greedy(m, p, {max_new_tokens = 12, banned = banned}), "prompt " .. b)
    for _, id in ipairs(out[b]) do T.ok(id ~= top, "banned id " .. top .. " generated") end
    local full = {table.unpack(p)}
    for _, id in ipairs(out[b]) do full[#full + 1] = id end
    for i = #p + 1, #full do
      T.ok(not (full[i - 1] == pair[1] and full[i] == pair[2]), "banned pair generated")
    end
  end
end)

T.case("return_prompt, tensor prompts with a mask, cacheless models, greedy()", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11}
  local out = gen.generate(m, PROMPTS, {max_new_tokens = 5, return_prompt = true})
  for b, p in ipairs(PROMPTS) do
    local want = {table.unpack(p)}
    for _, id in ipairs(ref_greedy(m, p, {max_new_tokens = 5})) do want[#want + 1] = id end
    T.eq(out[b], want)
  end
  -- right-padded tensor + mask: the mask decides what is real
  local ids = tensor.from({{0, 3, 5, 9, 9, 9}, {0, 9, 9, 9, 9, 9}, {0, 7, 2, 6, 4, 4}}, {dtype = "i64"})
  local mask = tensor.from({{1, 1, 1, 0, 0, 0}, {1, 0, 0, 0, 0, 0}, {1, 1, 1, 1, 1, 1}}, {dtype = "i64"})
  T.eq(gen.generate(m, ids, {max_new_tokens = 7, attention_mask = mask}), gen.generate(m, PROMPTS, {max_new_tokens = 7}))
  T.eq(gen.generate(m, ids:narrow(1, 3, 1), {max_new_tokens = 7}), {ref_greedy(m, PROMPTS[3], {max_new_tokens = 7})})
  -- a model without a cache runs the whole sequence each step
  local full = toy.new{vocab = 8, eos = 1, seed = 11, no_cache = true}
  T.eq(gen.generate(full, {PROMPTS[3]}, {max_new_tokens = 6})[1], ref_greedy(m, PROMPTS[3], {max_new_tokens = 6}))
  T.eq(full.calls[2], {1, 7})
  T.raises("prompts must have equal lengths", gen.generate, full, PROMPTS, {max_new_tokens = 2})
  local g = gen.greedy(m, PROMPTS[1], {max_new = 4})
  T.eq(g, gen.generate(m, {PROMPTS[1]}, {max_new_tokens = 4, return_prompt = true})[1])
end)

T.case("on_token streams one call per step; false stops", function()
  local m = toy.new{vocab = 6, eos = 1, seed = 1}
  local prompts = {{0}, {0, 2}, {0, 3}, {0, 2, 2}, {0, 3, 3, 2}}
  local want = gen.generate(m, prompts, {max_new_tokens = 9})
  local got, steps = {{}, {}, {}, {}, {}}, 0
  local finished_seen = false
  local out = gen.generate(m, prompts, {max_new_tokens = 9, on_token = function(step, ids)
    steps = steps + 1
    T.eq(step, steps)
    T.eq(#ids, 5)
    for r, id in ipairs(ids) do
      if id == false then finished_seen = true else got[r][#got[r] + 1] = id end
    end
  end})
  T.eq(got, want)
  T.eq(out, want)
  local longest = 0
  for _, r in ipairs(want) do longest = math.max(longest, #r) end
  T.eq(steps, longest)
  T.ok(finished_seen, "rows that stopped are reported as false")
  local n = 0
  local cut = gen.generate(m, prompts, {max_new_tokens = 9, on_token = function() n = n + 1 return n < 2 end})
  for r, row in ipairs(cut) do
    T.eq(row, {table.unpack(want[r], 1, math.min(2, #want[r]))})
  end
end)

T.case("sampling: top_k = 1 is greedy; same generator seed -> same samples", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11}
  local greedy = gen.generate(m, PROMPTS, {max_new_tokens = 10})
  local g = tensor.generator(1)
  T.eq(gen.generate(m, PROMPTS, {max_new_tokens = 10, do_sample = true, top_k = 1, generator = g}), greedy)
  local a = gen.generate(m, PROMPTS, {max_new_tokens = 10, do_sample = true, generator = tensor.generator(42)})
  local b = gen.generate(m, PROMPTS, {max_new_tokens = 10, do_sample = true, generator = tensor.generator(42)})
  local c = gen.generate(m, PROMPTS, {max_new_tokens = 10, do_sample = true, generator = tensor.generator(43)})
  T.eq(a, b)
  T.ok(T.show(a) ~= T.show(c), "another seed gives other samples")
  -- num_return_sequences copies each prompt
  local r = gen.generate(m, {PROMPTS[1]}, {max_new_tokens = 4, do_sample = true, num_return_sequences = 3,
    generator = tensor.generator(9), return_prompt = true})
  T.eq(#r, 3)
  for _, row in ipairs(r) do T.eq({table.unpack(row, 1, 3)}, PROMPTS[1]) end
end)

-- Expected first-token probabilities after temperature / top-k / top-p (HF's warpers), in double.
local function warped_probs(logits, temp, k, p)
  local V = #logits
  local l = {}
  for i = 1, V do l[i] = logits[i] / temp end
  if k and k < V then
    local sorted = {table.unpack(l)}
    table.sort(sorted, function(x, y) return x > y end)
    for i = 1, V do if l[i] < sorted[k] then l[i] = -math.huge end end
  end
  if p and p < 1 then
    local order = {}
    for i = 1, V do order[i] = i end
    table.sort(order, function(x, y) return l[x] < l[y] end) -- ascending, as HF
    local probs = toy.log_softmax(l)
    local cum = 0
    for j, i in ipairs(order) do
      cum = cum + math.exp(probs[i])
      if cum <= 1 - p and j < V then l[i] = -math.huge end
    end
  end
  local lp = toy.log_softmax(l)
  local out = {}
  for i = 1, V do out[i] = math.exp(lp[i]) end
  return out
end

T.case("sampling distributions: temperature, top_k, top_p (chi-square over 5000 draws)", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11, scale = 0.5}
  local prompt = {0, 3, 5}
  local logits = toy.logits_of(prompt, 8, 11, 0.5)
  local n = 5000
  for _, c in ipairs({{temp = 1.0}, {temp = 0.7}, {temp = 1.5, k = 4}, {temp = 1.0, p = 0.8},
      {temp = 0.8, k = 5, p = 0.7}}) do
    local out = gen.generate(m, {prompt}, {max_new_tokens = 1, do_sample = true, temperature = c.temp,
      top_k = c.k, top_p = c.p, num_return_sequences = n, generator = tensor.generator(123)})
    local counts = {}
    for i = 1, 8 do counts[i] = 0 end
    for _, row in ipairs(out) do counts[row[1] + 1] = counts[row[1] + 1] + 1 end
    local probs = warped_probs(logits, c.temp, c.k, c.p)
    local chi2, df, outside = 0, -1, 0
    for i = 1, 8 do
      if probs[i] == 0 then
        outside = outside + counts[i]
      else
        local e = n * probs[i]
        chi2, df = chi2 + (counts[i] - e) ^ 2 / e, df + 1
      end
    end
    local label = string.format("temp %g k %s p %s", c.temp, tostring(c.k), tostring(c.p))
    T.eq(outside, 0, label .. ": draws outside the kept set")
    -- the 0.999 quantile of chi-square with df <= 7 is below 24.4
    T.ok(chi2 < 24.4, string.format("%s: chi2 %.2f with %d dof (counts %s)", label, chi2, df, T.show(counts)))
    T.ok(df >= 1, label .. ": at least 2 ids kept")
  end
end)

T.case("errors name the option", function()
  local m = toy.new{vocab = 8, eos = 1, seed = 11}
  T.raises("unknown option 'max_new'", gen.generate, m, PROMPTS, {max_new = 3})
  T.raises("option 'temperature': expected a number > 0, got 0", gen.generate, m, PROMPTS, {temperature = 0})
  T.raises("option 'top_p': expected a number in (0, 1]", gen.generate, m, PROMPTS, {top_p = 1.5})
  T.raises("option 'top_k'", gen.generate, m, PROMPTS, {top_k = -1})
  T.raises("prompt #2 is empty", gen.generate, m, {{0}, {}}, {})
  T.raises("argument #2: element #1: entry #2: expected an id >= 0", gen.generate, m, {{0, -3}}, {})
  T.raises("option 'banned': element #1", gen.generate, m, PROMPTS, {banned = {{}}})
  T.raises("option 'num_return_sequences': 6 is more than num_beams (5)", gen.generate, m, PROMPTS,
    {num_beams = 5, num_return_sequences = 6})
  T.raises("streaming needs num_beams = 1", gen.generate, m, PROMPTS, {num_beams = 2, on_token = print})
  T.raises("option 'early_stopping'", gen.generate, m, PROMPTS, {num_beams = 2, early_stopping = "sometimes"})
  T.raises("argument #1: expected a model", gen.generate, {}, PROMPTS, {})
  local ids = tensor.from({{0, 3}}, {dtype = "i64"})
  T.raises("option 'attention_mask': expected a tensor of shape (1, 2)", gen.generate, m, ids,
    {attention_mask = tensor.ones(1, 3, {dtype = "i64"})})
end)

T.done()
