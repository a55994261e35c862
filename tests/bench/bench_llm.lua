-- bench_llm.lua — the recx side of the LLM benchmarks of issue #5, on a randomly initialised
-- model of SmolLM2-135M's shape (tests/bench/bench_llm_torch.py is the peer; llm_gpu.sh runs both).
--
--   recx tests/bench/bench_llm.lua [only=train,lora,decode] [device=cuda] [dtype=bf16]
--        [batches=16,64] [steps=15] [warmup=5] [decode_batches=1,32] [threads=N] [json=FILE]
-- On the CPU (device=cpu dtype=f32 only=decode) the decode rows also report the bound that memory
-- bandwidth sets: bytes of weights read per step / the measured memcpy rate (bench_elementwise).
--
-- Model: recx.llm.llama.new with SmolLM2's config (vocab 49152, hidden 576, ffn 1536, 30 layers,
-- 9 heads / 3 kv heads, rope theta 1e5, rms eps 1e-5, tied embeddings), weights N(0, 0.02),
-- seed 0, on `device`.
-- Rows (tokens/s = B*T per step / median step seconds; recx.cuda.synchronize around each step):
-- - train B x T512: bf16 parameters and activations, AdamW (lr 1e-4, weight decay 0) with f32
--   state and f32 master weights (master_weights = true), mean cross-entropy (f32) over all
--   positions (model:loss with labels = ids), backward, step, zero_grad.
-- - lora B x T512: LoRA r16 alpha 32 dropout 0.05 on q,k,v,o + trainable embed_tokens and
--   lm_head (SPEC 5.3) over the bf16 model, the same optimizer over the trainable parameters.
-- - decode B1/B32: recx.llm.generate greedy with a KV cache, bf16 weights, 128 new tokens after a
--   32-token prompt (min_new_tokens = 128, so every row decodes 128); tokens/s = B*128 / seconds.
--   On CUDA each batch gives two rows: generate's default (captured-graph steps, path "graph") and
--   the opt-in one-kernel decoder ("decode B.. kernel", cuda_kernel = true); step_ms is the device
--   time of one step of that path (steps queued back to back, logits written each step), and
--   kernel_phases_us the kernel's phase times seen by block 0 (P1..P5 averaged over the layers,
--   the head, the total) of the last timed step.
local recx = require "recx"
local cjson = require "cjson"
local llama = require "recx.llm.llama"
local tensor = recx.tensor

local cfg = recx.config {
  only = "train,lora,decode", device = "cuda", dtype = "bf16", batches = "16,64", steps = 15, warmup = 5,
  seq = 512, new_tokens = 128, prompt = 32, decode_batches = "1,32", threads = 0, json = "",
}
if cfg.threads > 0 then recx.num_threads(cfg.threads) end

local SMOLLM2 = {
  vocab_size = 49152, hidden_size = 576, intermediate_size = 1536, num_hidden_layers = 30,
  num_attention_heads = 9, num_key_value_heads = 3, rope_theta = 100000.0, rms_norm_eps = 1e-5,
  tie_word_embeddings = true, max_position_embeddings = 8192, bos_token_id = 1, eos_token_id = 2,
  pad_token_id = 2,
}

local function set_of(csv)
  local s = {}
  for w in tostring(csv):gmatch("[^,]+") do s[w] = true end
  return s
end
local only = set_of(cfg.only)

local function list_of(csv)
  local out = {}
  for w in tostring(csv):gmatch("[^,]+") do out[#out + 1] = math.tointeger(tonumber(w)) end
  return out
end

local function sync() recx.cuda.synchronize() end

local function median(xs)
  table.sort(xs)
  local n = #xs
  return n % 2 == 1 and xs[(n + 1) // 2] or (xs[n // 2] + xs[n // 2 + 1]) / 2
end

local function make_model()
  return llama.new(SMOLLM2, {dtype = cfg.dtype, device = cfg.device, generator = tensor.generator(0)})
end

local rows = {}
local function emit(row)
  rows[#rows + 1] = row
  print(cjson.encode(row))
  io.stdout:flush()
end

local function train_row(name, model, B)
  local params = {}
  for _, p in ipairs(model:parameters()) do
    if p:requires_grad() then params[#params + 1] = p end
  end
  local opt = recx.optim.adamw(params, {lr = 1e-4, weight_decay = 0, master_weights = true})
  local ids = tensor.randint(0, SMOLLM2.vocab_size, {B, cfg.seq}, {dtype = "i64", device = cfg.device,
    generator = tensor.generator(1)})
  model:train()
  local last_loss
  local function step()
    local loss = model:loss(ids, ids)
    loss:backward()
    opt:step()
    opt:zero_grad()
    last_loss = loss
  end
  for _ = 1, cfg.warmup do step() end
  sync()
  local times = {}
  for _ = 1, cfg.steps do
    local t0 = recx.clock()
    step()
    sync()
    times[#times + 1] = recx.clock() - t0
  end
  local sec = median(times)
  local mem = recx.mem(cfg.device)
  return {name = name, batch = B, seq = cfg.seq, seconds = sec, tokens_per_s = B * cfg.seq / sec,
          loss = last_loss:item(), peak_gib = (mem.peak_bytes or 0) / 2^30}
end

local function decode_row(name, B, kernel)
  local gen = require "recx.llm.generate"
  local model = make_model()
  model:eval()
  local g = tensor.generator(2)
  local prompts = {}
  for b = 1, B do
    local ids = tensor.randint(3, SMOLLM2.vocab_size, {cfg.prompt}, {dtype = "i64", generator = g}):tolist()
    prompts[b] = ids
  end
  local opts = {max_new_tokens = cfg.new_tokens, min_new_tokens = cfg.new_tokens, cuda_kernel = kernel}
  gen.generate(model, prompts, opts) -- warm-up
  sync()
  local times = {}
  for _ = 1, 3 do
    local t0 = recx.clock()
    local out = gen.generate(model, prompts, opts)
    sync()
    times[#times + 1] = recx.clock() - t0
    assert(#out == B and #out[1] == cfg.new_tokens, "decode: expected every row to decode the full length")
  end
  local sec = median(times)
  -- the device time of one step: steps queued back to back, one synchronisation at the end
  local step_ms, path, phases
  local decode_graph = require "recx.llm.decode_graph"
  if decode_graph.supported(model) then
    recx.no_grad(function()
      local s = decode_graph.session(model, B, cfg.prompt + 80, {kernel = kernel, trace = kernel})
      s.prefill(tensor.from(prompts, {dtype = "i64"}), tensor.ones({B, cfg.prompt}, {dtype = "i64"}))
      path = s.path
      local next_ids = tensor.full({B}, 5, {dtype = "i64"})
      s.step(next_ids)
      s.step(next_ids)
      sync()
      local t0 = recx.clock()
      for _ = 1, 64 do s.step(next_ids) end
      sync()
      step_ms = (recx.clock() - t0) / 64 * 1e3
      phases = s.trace and s.trace()
      s.close()
    end)
  end
  local weight_bytes = 0
  local width = {f32 = 4, bf16 = 2, f16 = 2}
  for _, p in ipairs(model:parameters()) do weight_bytes = weight_bytes + p:numel() * width[p:dtype()] end
  return {name = name, batch = B, new_tokens = cfg.new_tokens, seconds = sec,
          tokens_per_s = B * cfg.new_tokens / sec, weight_bytes = weight_bytes,
          steps_per_s = cfg.new_tokens / sec, step_ms = step_ms, path = path, kernel_phases_us = phases}
end

for _, B in ipairs(list_of(cfg.batches)) do
  if only.train then
    local m = make_model()
    recx.mem_reset_peak(cfg.device)
    emit(train_row("train B" .. B, m, B))
    m = nil
    collectgarbage()
    collectgarbage()
  end
  if only.lora then
    local lora = require "recx.nn.lora"
    local m = make_model()
    lora.apply(m, {targets = {"q_proj", "k_proj", "v_proj", "o_proj"}, r = 16, alpha = 32, dropout = 0.05,
      modules_to_save = {"embed_tokens", "lm_head"}, generator = tensor.generator(3)})
    recx.mem_reset_peak(cfg.device)
    emit(train_row("lora B" .. B, m, B))
    m = nil
    collectgarbage()
    collectgarbage()
  end
  if cfg.device == "cuda" then recx.cuda.empty_cache() end
end
if only.decode then
  for _, B in ipairs(list_of(cfg.decode_batches)) do
    emit(decode_row("decode B" .. B, B, false))
    if cfg.device == "cuda" then emit(decode_row("decode B" .. B .. " kernel", B, true)) end
  end
end

local out = cfg.json ~= "" and cfg.json or ((os.getenv("OUT") or "out/bench") .. "/llm_recx.json")
os.execute("mkdir -p '" .. out:match("^(.*)/[^/]*$") .. "'")
local f = assert(io.open(out, "w"))
f:write(cjson.encode({meta = {recx = recx.version, device = cfg.device,
  date = os.date("!%Y-%m-%d %H:%M UTC")}, rows = rows}))
f:close()
io.stderr:write("wrote " .. out .. "\n")
