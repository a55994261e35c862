-- bench_train_step.lua — the recx side of the CPU training-step benchmark.
--
-- Owns: one training step (forward, backward, AdamW) of a small Llama-style LM written with
-- recx.nn.functional, timed the same way as tests/bench/bench_train_step.py times PyTorch, so
-- that tests/bench/train_step.sh can put the two side by side. Run through train_step.sh; alone:
--
--   OMP_NUM_THREADS=2 build/bin/recx tests/bench/bench_train_step.lua [threads=2] [json=FILE] [...]
--
-- Model (the same as the Python script's): embedding (V, C); `layers` pre-norm blocks of
-- rmsnorm (eps 1e-5) -> q, k, v linear (no bias; H query heads, G key/value heads of D) ->
-- rotate-half rope (theta 10000) -> causal grouped-query attention (rx_attention) -> o linear
-- -> residual -> rmsnorm -> swiglu MLP (gate, up, down; hidden F) -> residual; final rmsnorm;
-- untied lm_head; mean cross entropy over all (B, T) targets. AdamW lr 1e-4, betas (0.9, 0.999),
-- eps 1e-8, weight decay 0.01 (recx.optim.adamw). Weights normal(0, 0.02), norms ones; ids and
-- targets uniform from a fixed seed.
--
-- Timing: `warmup` untimed steps, then `repeats` samples of `steps_per_sample` consecutive
-- steps each, timed with recx.clock (monotonic wall clock); a sample's figure is its time
-- divided by its step count, and the result is the median over samples; the phases (forward
-- with zero_grad and reading the loss, backward, optimizer) get medians of their own. One JSON
-- object goes to `json` (or stdout).
local recx = require "recx"
local cjson = require "cjson"
local tensor = recx.tensor
local F = recx.nn.functional

local cfg = recx.config {
  vocab = 512, channels = 256, layers = 4, heads = 8, kv_heads = 4, hidden = 768, seq = 128, batch = 8,
  threads = 2, warmup = 3, repeats = 9, steps_per_sample = 2, json = "",
}

recx.num_threads(cfg.threads)
tensor.manual_seed(0)

local V, C, H, G, FF = cfg.vocab, cfg.channels, cfg.heads, cfg.kv_heads, cfg.hidden
local D = C // H
local B, TT = cfg.batch, cfg.seq
local EPS = 1e-5

-- ---- parameters (a list in a fixed order, and by name) ---------------------------------------

local params, p = {}, {}
local function param(name, t)
  t:requires_grad(true)
  params[#params + 1] = t
  p[name] = t
end
local function normal(shape)
  return recx.no_grad(function() return tensor.randn(shape) * 0.02 end)
end

param("embed", normal({V, C}))
for i = 1, cfg.layers do
  local pre = "l" .. i .. "."
  param(pre .. "attn_norm", tensor.ones({C}))
  param(pre .. "q", normal({H * D, C}))
  param(pre .. "k", normal({G * D, C}))
  param(pre .. "v", normal({G * D, C}))
  param(pre .. "o", normal({C, H * D}))
  param(pre .. "mlp_norm", tensor.ones({C}))
  param(pre .. "gate", normal({FF, C}))
  param(pre .. "up", normal({FF, C}))
  param(pre .. "down", normal({C, FF}))
end
param("norm", tensor.ones({C}))
param("head", normal({V, C}))

local n_params = 0
for _, t in ipairs(params) do n_params = n_params + t:numel() end

local ids = tensor.randint(0, V, {B, TT})
local targets = tensor.randint(0, V, {B * TT})
local cos, sin = F.rope_tables(tensor.arange(0, TT, {dtype = "i64"}), F.rope_inv_freq(D, 10000.0), "f32")

-- ---- the step -----------------------------------------------------------------------------------

local function loss_fn()
  local x = F.embedding(p.embed, ids) -- (B, T, C)
  for i = 1, cfg.layers do
    local pre = "l" .. i .. "."
    local h = F.rmsnorm(x, p[pre .. "attn_norm"], EPS)
    local q = F.rope(F.linear(h, p[pre .. "q"]):view(B, TT, H, D):transpose(2, 3), cos, sin) -- (B, H, T, D)
    local k = F.rope(F.linear(h, p[pre .. "k"]):view(B, TT, G, D):transpose(2, 3), cos, sin) -- (B, G, T, D)
    local v = F.linear(h, p[pre .. "v"]):view(B, TT, G, D):transpose(2, 3)
    local a = F.attention(q, k, v, {causal = true}):transpose(2, 3):reshape(B, TT, C)
    x = x + F.linear(a, p[pre .. "o"])
    h = F.rmsnorm(x, p[pre .. "mlp_norm"], EPS)
    x = x + F.linear(F.swiglu(F.linear(h, p[pre .. "gate"]), F.linear(h, p[pre .. "up"])), p[pre .. "down"])
  end
  local logits = F.linear(F.rmsnorm(x, p.norm, EPS), p.head) -- (B, T, V)
  return F.cross_entropy(logits:view(B * TT, V), targets)
end

local opt = recx.optim.adamw(params, {lr = 1e-4, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.01})

-- One step; adds the seconds of its phases (forward incl. zero_grad, backward, optimizer) to
-- `phases` when given.
local function step(phases)
  local t0 = recx.clock()
  opt:zero_grad()
  local loss <close> = loss_fn()
  local value = loss:item()
  local t1 = recx.clock()
  loss:backward()
  local t2 = recx.clock()
  opt:step()
  if phases then
    local t3 = recx.clock()
    phases[1], phases[2], phases[3] = phases[1] + t1 - t0, phases[2] + t2 - t1, phases[3] + t3 - t2
  end
  return value
end

local function median(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  return n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2, s[1], s[n]
end

local losses = {}
for _ = 1, cfg.warmup do losses[#losses + 1] = step() end
local samples, fwd, bwd, upd = {}, {}, {}, {}
for r = 1, cfg.repeats do
  local phases = {0, 0, 0}
  local t0 = recx.clock()
  for _ = 1, cfg.steps_per_sample do losses[#losses + 1] = step(phases) end
  samples[r] = (recx.clock() - t0) / cfg.steps_per_sample
  fwd[r], bwd[r], upd[r] = phases[1] / cfg.steps_per_sample, phases[2] / cfg.steps_per_sample,
    phases[3] / cfg.steps_per_sample
end
for _, l in ipairs(losses) do
  if l ~= l or l == math.huge or l == -math.huge then error("bench_train_step.lua: a loss is not finite") end
end

local step_median, step_min, step_max = median(samples)

local result = {
  impl = "recx",
  version = recx.version,
  threads = recx.num_threads(),
  optimizer = "recx.optim.adamw",
  attention = "F.attention(causal = true), grouped-query",
  config = {vocab = V, channels = C, layers = cfg.layers, heads = H, kv_heads = G, head_dim = D, hidden = FF,
            seq = TT, batch = B, dtype = "f32"},
  params = n_params,
  warmup = cfg.warmup, repeats = cfg.repeats, steps_per_sample = cfg.steps_per_sample,
  step_seconds = step_median,
  step_seconds_min = step_min, step_seconds_max = step_max,
  forward_seconds = median(fwd), backward_seconds = median(bwd), optimizer_seconds = median(upd),
  tokens_per_second = B * TT / step_median,
  first_loss = losses[1], last_loss = losses[#losses],
  peak_bytes = recx.mem().peak_bytes,
}
local text = cjson.encode(result)
if cfg.json ~= "" then
  local f = assert(io.open(cfg.json, "w"))
  f:write(text, "\n")
  f:close()
else
  print(text)
end
