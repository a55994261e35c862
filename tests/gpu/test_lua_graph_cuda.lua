-- test_lua_graph_cuda.lua — CUDA graphs (recx.cuda.graph) and the graph-replayed decode steps of
-- recx.llm.decode_graph, against eager CUDA and the CPU.
--
-- Graphs: a replay recomputes the captured ops on the inputs' current values; the capture runs
-- nothing; host reads inside a capture fail with a clear message and leave the device usable;
-- memory the graph used is never handed to other tensors while the graph lives (tensors made
-- after the capture keep their values across replays); an out-of-range embedding id inside a
-- capture gives a zero row. Decoding: tests/fixtures/llama_tiny_gqa on CUDA, graph steps against
-- the Lua steps (logits within 1e-5 in f32 for 12 steps of a left-padded batch), transformers'
-- generate() fixtures (greedy, sampling-free processors, beam search) reproduced with graphs on.
-- Exits 77 (skipped) without a CUDA device.
local recx = require "recx"
local C = require "cuda_util"
C.require_device()
local T = require "harness"
local G = require "generate_util"
local gen = require "recx.llm.generate"
local llama = require "recx.llm.llama"
local decode_graph = require "recx.llm.decode_graph"
local tensor = recx.tensor

local host, maxdiff = C.host, C.maxdiff

T.case("a replay recomputes the captured ops on the inputs' current values", function()
  local a = tensor.randn({300, 70}, {generator = tensor.generator(1)}):to("cuda")
  local w = tensor.randn({70, 20}, {generator = tensor.generator(2)}):to("cuda")
  local g, out = recx.cuda.graph(function() return (a:matmul(w) * 2 + 1):relu():sum(2) end)
  T.ok(g:nodes() >= 3, "recorded nodes: " .. g:nodes())
  for round = 1, 3 do
    local x = tensor.randn({300, 70}, {generator = tensor.generator(10 + round)})
    a:copy_(x:to("cuda"))
    g:replay()
    local want = (x:matmul(w:to("cpu")) * 2 + 1):relu():sum(2)
    T.ok(maxdiff(out, want) < 1e-3, "round " .. round .. ": replay equals the CPU")
  end
  g:release()
  T.raises("released", function() g:replay() end)
end)

T.case("host reads inside a capture fail clearly and the device stays usable", function()
  local a = tensor.ones({4}, {device = "cuda"})
  T.raises("cannot be recorded in a CUDA graph", function()
    recx.cuda.graph(function() return (a + 1):sum():item() end)
  end)
  T.raises("cannot be recorded in a CUDA graph", function()
    recx.cuda.graph(function() return tensor.ones({4}):to("cuda") end)
  end)
  T.raises("cannot be recorded in a CUDA graph", function()
    recx.cuda.graph(function() recx.cuda.synchronize() end)
  end)
  T.eq((a + 1):sum():item(), 8.0, "eager work after the failed captures")
  local g, out = recx.cuda.graph(function() return a * 3 end)
  g:replay()
  T.eq(out:sum():item(), 12.0, "a capture after the failed ones")
end)

T.case("memory the graph uses is not handed to tensors made after the capture", function()
  local a = tensor.randn({1024, 256}, {generator = tensor.generator(3)}):to("cuda")
  local g, out = recx.cuda.graph(function()
    local t = a * 2        -- temporaries of the graph, dropped inside the capture
    local u = t + 1
    t, u = nil, u * 0.5
    return u:sum(1)
  end)
  collectgarbage()
  collectgarbage()
  local keep = {}
  for i = 1, 8 do keep[i] = tensor.full({1024, 256}, i, {device = "cuda"}) end
  g:replay()
  g:replay()
  for i = 1, 8 do T.eq(keep[i]:min():item(), i + 0.0, "tensor " .. i .. " untouched by the replays") end
  local want = (host(a) * 2 + 1) * 0.5
  T.ok(maxdiff(out, want:sum(1)) < 1e-2, "the output")
end)

T.case("an out-of-range embedding id inside a capture gives a zero row", function()
  local w = tensor.randn({10, 8}, {generator = tensor.generator(4)}):to("cuda")
  local ids = tensor.from({{1, 2}}, {dtype = "i64"}):to("cuda")
  local g, out = recx.cuda.graph(function() return recx.nn.functional.embedding(w, ids) end)
  ids:copy_(tensor.from({{3, 99}}, {dtype = "i64"}))
  g:replay()
  T.ok(maxdiff(out:select(2, 1), w:select(1, 4):view(1, 8)) == 0, "row of id 3")
  T.eq(out:select(2, 2):abs():sum():item(), 0.0, "row of id 99 is zero")
  -- outside a capture the ids are checked on the device: the error comes with the next host read
  local e = recx.nn.functional.embedding(w, ids)
  T.raises("embedding: argument #2: id 99 at element 1 is out of range [0, 10)", function() return e:sum():item() end)
end)

T.case("ids on the device are checked without a synchronisation; errors come with the next host read", function()
  local F = recx.nn.functional
  local w = tensor.randn({10, 4}, {generator = tensor.generator(5)}):to("cuda"):requires_grad(true)
  local ids = tensor.from({{1, 2, 3}, {4, 12, 0}}, {dtype = "i64"}):to("cuda")
  local y = F.embedding(w, ids) -- queued; no error yet
  y:sum():backward()            -- the backward skips the bad id instead of writing out of bounds
  T.raises("id 12 at element 4 is out of range [0, 10) (found on cuda:0", function() return y:sum():item() end)
  local g = host(w:grad())
  T.eq(g:select(1, 2):sum():item(), 4.0, "gradient row of id 1 (one use x 4 columns)")
  T.eq(g:select(1, 3):sum():item(), 4.0, "gradient row of id 2")
  local logits = tensor.randn({3, 5}, {generator = tensor.generator(6)}):to("cuda")
  local loss = F.cross_entropy(logits, tensor.from({1, 50, 2}, {dtype = "i64"}):to("cuda"))
  T.raises("target 50 at row 1 is out of range [0, 5)", function() recx.cuda.synchronize() end)
  T.ok(loss:dim() == 0, "the loss was still made")
  local ok_loss = F.cross_entropy(logits, tensor.from({1, 4, 2}, {dtype = "i64"}):to("cuda"))
  local want = F.cross_entropy(host(logits), tensor.from({1, 4, 2}, {dtype = "i64"}))
  T.ok(math.abs(ok_loss:item() - want:item()) < 1e-5, "the device works on after the reported errors")
end)

local cpu_model = llama.load("../fixtures/llama_tiny_gqa")
local model = llama.load("../fixtures/llama_tiny_gqa", {device = "cuda"})

T.case("graph decode steps equal the Lua steps (f32, left-padded batch, 12 steps)", function()
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local T0 = 6
  local ids, mask = require("llama_util").left_padded(prompts, T0)
  recx.no_grad(function()
    local s = decode_graph.session(model, 3, T0 + 12)
    local cache = model:new_cache(3, T0 + 12)
    local m = mask:clone()
    local a = s.prefill(ids, mask)
    local b = model:forward(ids, {cache = cache, attention_mask = m, logits_at = "last"})
    T.ok(maxdiff(a, b) < 1e-5, "prefill")
    for step = 1, 12 do
      local next_ids = host(a):argmax(2):to("i64"):view(3)
      a = s.step(next_ids)
      m = tensor.cat({m, tensor.ones({3, 1}, {dtype = "i64"})}, 2)
      b = model:forward(next_ids:view(3, 1), {cache = cache, attention_mask = m, logits_at = "last"})
      T.ok(maxdiff(a, b) < 1e-5, string.format("step %d (%s): max diff %.2e", step,
        step == 1 and "eager" or step == 2 and "captured" or "replayed", maxdiff(a, b)))
    end
    s.close()
  end)
end)

T.case("generate takes the graph steps for this model", function()
  T.ok(decode_graph.supported(model), "decode_graph.supported: the cases below run through graphs")
  T.ok(not decode_graph.supported(cpu_model), "not for the CPU copy")
end)

local doc = G.fixture("generate_hf.json")
for i, c in ipairs(doc.llama_tiny_gqa) do
  T.case("transformers' generate on CUDA with graph steps, case " .. i, function()
    G.check_case(model, c, 1e-4)
  end)
end

T.case("greedy on CUDA with and without graphs equals the CPU", function()
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local opts = {max_new_tokens = 24, stop = {}}
  local cpu = gen.generate(cpu_model, prompts, opts)
  local graphs = gen.generate(model, prompts, opts)
  opts.cuda_graph = false
  local plain = gen.generate(model, prompts, opts)
  for b = 1, 3 do
    T.eq(graphs[b], cpu[b], "prompt " .. b .. ": graphs vs CPU")
    T.eq(plain[b], cpu[b], "prompt " .. b .. ": Lua steps vs CPU")
  end
end)

T.case("greedy on the device through graphs equals the host loop over the graph's logits", function()
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local ids, mask = require("llama_util").left_padded(prompts, 6)
  local steps = 20
  recx.no_grad(function()
    local function host_loop(ban)
      local s = decode_graph.session(model, 3, 6 + steps + 1)
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
      return out
    end
    local free = host_loop({})
    local ban = {free[1][1], free[4][2], free[9][3]}
    local want = host_loop(ban)
    local s = decode_graph.session(model, 3, 6 + steps + 1)
    local logits = s.prefill(ids, mask)
    T.eq(s.path, "graph", "the graph path")
    local got = {}
    -- bans from step 3 on: the ban row changes between replays
    local ran = s.greedy(logits:argmax(2):to("i64"):view(3), steps, function(j) return j >= 3 and ban or {} end,
      function(j, row) got[j] = row end)
    T.eq(ran, steps, "steps run")
    T.eq({got[1], got[2]}, {free[1], free[2]}, "steps 1-2 without bans")
    local want3 = host_loop(ban)
    for j = 3, steps do
      for r = 1, 3 do T.ok(got[j][r] ~= ban[1] and got[j][r] ~= ban[2] and got[j][r] ~= ban[3], "no banned id") end
    end
    s.close()
    -- with the bans from step 1, the device loop equals the host loop exactly
    local s2 = decode_graph.session(model, 3, 6 + steps + 1)
    local l2 = s2.prefill(ids, mask)
    local got2 = {}
    s2.greedy(l2:argmax(2):to("i64"):view(3), steps, function() return ban end, function(j, row) got2[j] = row end)
    T.eq(got2, want, "device greedy ids equal the host loop's (bans " .. table.concat(ban, ",") .. ")")
    T.eq(want3, want, "the host loop is deterministic")
    -- on_ids returning false stops the loop
    local calls = 0
    s2.close()
    local s3 = decode_graph.session(model, 3, 6 + steps + 1)
    local l3 = s3.prefill(ids, mask)
    s3.greedy(l3:argmax(2):to("i64"):view(3), steps, nil, function(j)
      calls = j
      return j < 5
    end)
    T.eq(calls, 5, "stopped after 5 steps")
    s3.close()
  end)
end)

T.case("generate's device greedy keeps stop ids, min_new_tokens and bans (equal to the CPU)", function()
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
  local base = gen.generate(cpu_model, prompts, {max_new_tokens = 24, stop = {}})
  local stop = {base[1][5], base[2][9]}
  for _, o in ipairs({{max_new_tokens = 24, stop = stop}, {max_new_tokens = 24, stop = stop, min_new_tokens = 10},
      {max_new_tokens = 24, stop = {}, banned = {base[3][2]}}}) do
    T.eq(gen.generate(model, prompts, o), gen.generate(cpu_model, prompts, o),
      string.format("min_new %s, %d stop ids, %s", tostring(o.min_new_tokens), #o.stop, o.banned and "banned" or "no bans"))
  end
end)

T.case("generate keeps its session between calls, and drops it when a weight changes", function()
  local m16 = llama.load("../fixtures/llama_tiny_gqa", {device = "cuda"})
  local c16 = llama.load("../fixtures/llama_tiny_gqa")
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}}
  local o = {max_new_tokens = 12, stop = {}}
  T.eq(gen.generate(m16, prompts, o), gen.generate(c16, prompts, o), "first call")
  T.eq(gen.generate(m16, prompts, o), gen.generate(c16, prompts, o), "second call (the kept session)")
  recx.no_grad(function()
    m16.model.layers[1].mlp.up_proj.weight:mul_(3)
    c16.model.layers[1].mlp.up_proj.weight:mul_(3)
  end)
  T.eq(gen.generate(m16, prompts, o), gen.generate(c16, prompts, o), "after an in-place weight change")
  gen.release_sessions(m16)
  T.eq(gen.generate(m16, {{1, 2}}, o), gen.generate(c16, {{1, 2}}, o), "after release_sessions, another shape")
end)

T.case("id rings: records in order, errors instead of hangs", function()
  local ring = recx.cuda.id_ring(3)
  for k = 1, 5 do ring:push(tensor.from({k, 10 * k, 100 * k}, {dtype = "i64"}):to("cuda")) end
  for k = 1, 5 do T.eq(ring:wait(k), {k, 10 * k, 100 * k}, "record " .. k) end
  T.raises("record 5 (0-based) was never written", function() ring:wait(6) end)
  T.raises("expected a contiguous (3) i64 tensor", function() ring:push(tensor.zeros({3}, {device = "cuda"})) end)
  T.raises("expected a tensor on cuda:0", function() ring:push(tensor.zeros({3}, {dtype = "i64"})) end)
  for k = 6, 80 do ring:push(tensor.from({k, k, k}, {dtype = "i64"}):to("cuda")) end
  T.eq(ring:wait(80), {80, 80, 80}, "record 80")
  T.raises("record 1 (0-based) was overwritten", function() ring:wait(2) end)
  ring:release()
  T.raises("released", function() ring:wait(1) end)
end)

T.case("bf16 graph steps follow the bf16 Lua steps", function()
  local m16 = llama.load("../fixtures/llama_tiny_gqa", {device = "cuda", dtype = "bf16"})
  local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}}
  local a = gen.generate(m16, prompts, {max_new_tokens = 16, stop = {}})
  local b = gen.generate(m16, prompts, {max_new_tokens = 16, stop = {}, cuda_graph = false})
  T.eq(a, b, "greedy ids")
end)

T.done()
