-- bench_generate_overhead.lua — where a generate call's time goes besides its steady decode steps:
-- the prefill, the first (eager) step, the capture of the step's graph, the steady steps, and the
-- whole call with a fresh and with a kept session.
--
--   recx tests/bench/bench_generate_overhead.lua [device=cuda] [dtype=bf16] [batch=32] [prompt=32]
--        [new_tokens=128] [layers=30] [json=FILE]
-- Model: SmolLM2-135M's shape (layers can be lowered for quick CPU runs), random weights N(0, 0.02),
-- seed 0. Every figure is wall time around work followed by recx.cuda.synchronize (the median
-- of 3 runs where repeated):
--   prefill_ms       s.prefill of a fresh session (B x prompt tokens through model:forward)
--   first_step_ms    the first s.step (eager: loads kernels, fills the allocator's cache)
--   capture_ms       the second s.step (captures the step's graph, then replays it once; on the
--                    CPU, where sessions run eagerly, a second eager step)
--   step_ms          a replayed step (median over 32)
--   call_fresh_ms    generate with a fresh session (generate.release_sessions before it)
--   call_kept_ms     generate reusing the kept session (graphs captured by the previous call)
--   overhead_kept_ms call_kept_ms - (new_tokens - 1) x step_ms: what the kept call spends outside
--                    its steady steps (the prefill, the first greedy step, the host's last reads)
local recx = require "recx"
local cjson = require "cjson"
local llama = require "recx.llm.llama"
local gen = require "recx.llm.generate"
local decode_graph = require "recx.llm.decode_graph"
local tensor = recx.tensor

local cfg = recx.config {device = "cuda", dtype = "bf16", batch = 32, prompt = 32, new_tokens = 128, layers = 30,
  json = ""}

local SMOLLM2 = {
  vocab_size = 49152, hidden_size = 576, intermediate_size = 1536, num_hidden_layers = cfg.layers,
  num_attention_heads = 9, num_key_value_heads = 3, rope_theta = 100000.0, rms_norm_eps = 1e-5,
  tie_word_embeddings = true, max_position_embeddings = 8192, bos_token_id = 1, eos_token_id = 2, pad_token_id = 2,
}

local function sync() if cfg.device ~= "cpu" then recx.cuda.synchronize() end end
local function timed(fn)
  sync()
  local t0 = recx.clock()
  fn()
  sync()
  return (recx.clock() - t0) * 1e3
end
local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

local model = llama.new(SMOLLM2, {dtype = cfg.dtype, device = cfg.device, generator = tensor.generator(0)})
model:eval()
local B, T = cfg.batch, cfg.prompt
local g = tensor.generator(2)
local prompts = {}
for b = 1, B do prompts[b] = tensor.randint(3, SMOLLM2.vocab_size, {T}, {dtype = "i64", generator = g}):tolist() end
local ids = tensor.from(prompts, {dtype = "i64"})
local mask = tensor.ones({B, T}, {dtype = "i64"})
local feed = tensor.full({B}, 5, {dtype = "i64"})

local row = {device = cfg.device, dtype = cfg.dtype, batch = B, prompt = T, new_tokens = cfg.new_tokens,
  layers = cfg.layers}
recx.no_grad(function()
  local prefill, first, capture, step = {}, {}, {}, {}
  for _ = 1, 3 do
    local s = decode_graph.session(model, B, T + 40, {graph = cfg.device ~= "cpu"}) -- 34 steps follow
    prefill[#prefill + 1] = timed(function() s.prefill(ids, mask) end)
    first[#first + 1] = timed(function() s.step(feed) end)
    capture[#capture + 1] = timed(function() s.step(feed) end)
    for _ = 1, 32 do step[#step + 1] = timed(function() s.step(feed) end) end
    s.close()
  end
  row.prefill_ms, row.first_step_ms, row.capture_ms, row.step_ms = median(prefill), median(first), median(capture),
    median(step)
end)
local opts = {max_new_tokens = cfg.new_tokens, min_new_tokens = cfg.new_tokens}
local fresh, kept = {}, {}
for _ = 1, 3 do
  gen.release_sessions(model)
  fresh[#fresh + 1] = timed(function() gen.generate(model, prompts, opts) end)
  kept[#kept + 1] = timed(function() gen.generate(model, prompts, opts) end)
end
row.call_fresh_ms, row.call_kept_ms = median(fresh), median(kept)
row.overhead_kept_ms = row.call_kept_ms - (cfg.new_tokens - 1) * row.step_ms
gen.release_sessions(model)

for _, k in ipairs({"prefill_ms", "first_step_ms", "capture_ms", "step_ms", "call_fresh_ms", "call_kept_ms",
    "overhead_kept_ms"}) do
  print(string.format("%-18s %10.3f", k, row[k]))
end
local out = cfg.json ~= "" and cfg.json or ((os.getenv("OUT") or "out/bench") .. "/generate_overhead.json")
os.execute("mkdir -p '" .. out:match("^(.*)/[^/]*$") .. "'")
local f = assert(io.open(out, "w"))
f:write(cjson.encode({meta = {recx = recx.version, date = os.date("!%Y-%m-%d %H:%M UTC")}, rows = {row}}))
f:close()
io.stderr:write("wrote " .. out .. "\n")
