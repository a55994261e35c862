-- train_tiny_lm.lua — trains the tiny Llama-shaped LM (lua/recx/models/tiny_lm.lua) on a
-- synthetic sequence task: a complete training run with every piece a real one has.
--
-- Task: arithmetic progressions mod `vocab`. Each sequence has a random start and a random
-- stride s in 1..max_stride: t[i+1] = (t[i] + s) mod vocab, seq_len + 1 tokens, inputs are the
-- first seq_len and targets the last seq_len. The first target depends on the unseen stride
-- (loss log max_stride at best); every later one follows from the two tokens before it. So:
--     a model that ignores the context ("context-blind", a bigram table) stays at log(max_stride)
--     the best possible mean loss is log(max_stride) / seq_len
--     the best next-token accuracy is (seq_len - 1 + 1 / max_stride) / seq_len
-- Sequences are drawn from Philox generators seeded from `seed`: training batches from seed + 2,
-- the fixed held-out set (eval_size sequences) from seed + 3; the model is initialised from
-- seed and its dropout masks come from seed + 1.
--
-- Training: AdamW with two parameter groups (weight decay on the matrices, none on the norms),
-- linear warmup then cosine decay to min_lr_ratio * lr over decay_steps (0: = steps), gradient
-- clipping at `clip`, dropout on the embeddings. Before the first step, every eval_every steps
-- and at the end the held-out loss and next-token accuracy are measured with dropout off.
--
-- Files in `out` (created):
--   metrics.jsonl     one JSON object per line: every log_every steps and at the end
--                     {"kind":"train","step","loss" (mean over the steps since the previous
--                     train line),"lr","grad_norm" (before clipping, last step),"tokens",
--                     "seconds"}; after each evaluation (step 0 included)
--                     {"kind":"eval","step","loss","accuracy"}
--   ckpt.safetensors  every ckpt_every steps and at the end (recx.checkpoint, written
--                     atomically): model, AdamW state, schedule, both generators, the config
--                     and the running totals
--   result.json       {recipe, recx_version, config, steps, resumed_from, parameters, tokens,
--                     seconds, tokens_per_second, final_train_loss, final_eval_loss,
--                     final_eval_accuracy, best_eval_loss, context_blind_loss, optimal_loss,
--                     optimal_accuracy, uniform_loss, files}
--   loss.svg          train and eval loss against the step (log scale), with the context-blind
--                     and optimal levels
--
-- resume=true continues from out/ckpt.safetensors when it exists (metrics lines written after
-- it are dropped), so Ctrl-C loses at most the steps since the last checkpoint; the losses are
-- bit for bit those of a run that was not interrupted. Every setting but steps, eval_every,
-- log_every, ckpt_every, threads and out must equal the checkpoint's (an error lists the
-- differences); raising steps extends a finished run (give decay_steps to keep the schedule's
-- length).
-- Without resume=true an earlier run in `out` is replaced.
--
--   recx recipes/train_tiny_lm.lua                          # the defaults below
--   recx recipes/train_tiny_lm.lua steps=200 out=/tmp/lm    # a shorter run
--   recx recipes/train_tiny_lm.lua out=/tmp/lm resume=true  # continue after Ctrl-C
--
-- Measured with the defaults (`bash scripts/main.sh`: 2-core dev VM, RelWithDebInfo, CUDA off,
-- 2 threads, quiet machine, 2026-11-28 22:25 UTC): 600 steps in 20.5 s, 1.2M tokens at 60k
-- tokens/s; held-out loss 0.0675 (optimal 0.0650, context-blind 2.08), accuracy 0.973.
-- Threads: all cores by default. 100 steps took 5.7 s on 1 thread and 3.2 s on 2 (same losses
-- bit for bit), measured after recx moved to one OpenMP pool shared with OpenBLAS.
local recx = require "recx"
local cjson = require "cjson"
local TinyLM = require "recx.models.tiny_lm"
local plot = require "recx.plot"

local tensor = recx.tensor
local F = recx.nn.functional
local checkpoint = recx.checkpoint

local cfg = recx.config {
  -- task
  vocab = 64,          -- tokens 0..vocab-1
  seq_len = 32,        -- tokens per training sequence (targets per sequence)
  max_stride = 8,      -- strides are drawn from 1..max_stride (< vocab)
  -- model (Llama-shaped: RMSNorm, grouped-query attention with RoPE, SwiGLU)
  dim = 128,
  layers = 2,
  heads = 4,
  kv_heads = 2,
  hidden = 256,        -- SwiGLU width
  dropout = 0.1,       -- on the token embeddings during training
  -- optimisation
  steps = 600,         -- training steps (the run stops here; see decay_steps)
  batch = 64,          -- sequences per step
  lr = 3e-3,           -- peak learning rate
  min_lr_ratio = 0.1,  -- the cosine ends at min_lr_ratio * lr
  warmup_steps = 30,   -- linear warmup from 0
  decay_steps = 0,     -- length of warmup + cosine; 0: = steps
  weight_decay = 0.1,  -- AdamW decoupled decay, matrices only
  clip = 1.0,          -- max global gradient norm
  -- evaluation, logging, checkpoints
  eval_every = 50,     -- steps between held-out evaluations (and one at the end)
  eval_size = 512,     -- held-out sequences
  log_every = 10,      -- steps between metrics lines (and one at the end)
  ckpt_every = 100,    -- steps between checkpoints (and one at the end)
  seed = 1,
  threads = 0,         -- CPU threads for the kernels (0: all cores); see the timing above
  resume = false,      -- continue from out/ckpt.safetensors
  out = "out/train_tiny_lm",
}

local NAME = "train_tiny_lm"
local function fail(fmt, ...) error(NAME .. ": " .. string.format(fmt, ...), 0) end

-- ---- checks (before any work) --------------------------------------------------------------
local function positive(key)
  if cfg[key] < 1 then fail("%s=%s: expected an integer >= 1", key, tostring(cfg[key])) end
end
for _, key in ipairs({"vocab", "seq_len", "max_stride", "dim", "layers", "heads", "kv_heads", "hidden", "steps",
  "batch", "eval_every", "eval_size", "log_every", "ckpt_every"}) do
  positive(key)
end
if cfg.max_stride >= cfg.vocab then
  fail("max_stride=%d: expected less than vocab=%d (strides must differ mod vocab)", cfg.max_stride, cfg.vocab)
end
if cfg.seq_len < 2 then fail("seq_len=%d: expected at least 2", cfg.seq_len) end
if cfg.dim % cfg.heads ~= 0 or (cfg.dim // cfg.heads) % 2 ~= 0 then
  fail("dim=%d, heads=%d: dim / heads must be a whole, even head size (rotary positions)", cfg.dim, cfg.heads)
end
if cfg.heads % cfg.kv_heads ~= 0 then fail("kv_heads=%d: expected a divisor of heads=%d", cfg.kv_heads, cfg.heads) end
if cfg.dropout < 0 or cfg.dropout >= 1 then fail("dropout=%s: expected 0 <= dropout < 1", tostring(cfg.dropout)) end
if cfg.lr <= 0 or cfg.clip <= 0 then fail("lr and clip must be positive (lr=%s, clip=%s)", cfg.lr, cfg.clip) end
if cfg.min_lr_ratio < 0 or cfg.min_lr_ratio > 1 then fail("min_lr_ratio=%s: expected 0..1", cfg.min_lr_ratio) end
if cfg.weight_decay < 0 then fail("weight_decay=%s: expected >= 0", cfg.weight_decay) end
if cfg.decay_steps == 0 then cfg.decay_steps = cfg.steps end
if cfg.decay_steps < 1 or cfg.warmup_steps < 0 or cfg.warmup_steps >= cfg.decay_steps then
  fail("warmup_steps=%d, decay_steps=%d: expected 0 <= warmup_steps < decay_steps", cfg.warmup_steps, cfg.decay_steps)
end
recx.num_threads(cfg.threads)

-- The output folder: created and written to before anything else.
local function shell_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end
if not os.execute("mkdir -p " .. shell_quote(cfg.out) .. " 2>/dev/null") then
  fail("cannot create the output folder '%s' (give out= a writable path)", cfg.out)
end
do
  local probe = cfg.out .. "/.write-test"
  local f, err = io.open(probe, "w")
  if not f then
    fail("the output folder '%s' is not writable: %s (give out= a writable path)", cfg.out, tostring(err))
  end
  f:close()
  os.remove(probe)
end
local files = {metrics = cfg.out .. "/metrics.jsonl", checkpoint = cfg.out .. "/ckpt.safetensors",
  result = cfg.out .. "/result.json", plot = cfg.out .. "/loss.svg"}

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

-- ---- data -----------------------------------------------------------------------------------
local V, Tn, S = cfg.vocab, cfg.seq_len, cfg.max_stride

-- B sequences -> ids (B, Tn), targets (B, Tn), both i64
local function batch(B, gen)
  local start = tensor.randint(0, V, {B, 1}, {generator = gen})
  local stride = tensor.randint(1, S + 1, {B, 1}, {generator = gen})
  local seq = (start + stride * tensor.arange(Tn + 1):view(1, Tn + 1)) % V   -- (B, Tn + 1)
  return seq:narrow(2, 1, Tn), seq:narrow(2, 2, Tn)
end

local data_gen = tensor.generator(cfg.seed + 2)
local eval_set = {}
do
  local g = tensor.generator(cfg.seed + 3)
  local left = cfg.eval_size
  while left > 0 do
    local n = math.min(left, 128)
    local ids, tgt = batch(n, g)
    eval_set[#eval_set + 1] = {ids = ids, tgt = tgt}
    left = left - n
  end
end

local levels = {
  context_blind = math.log(S),
  optimal = math.log(S) / Tn,
  uniform = math.log(V),
  optimal_accuracy = (Tn - 1 + 1 / S) / Tn,
}

-- ---- model, optimizer, schedule --------------------------------------------------------------
local lm = TinyLM({vocab = V, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads, kv_heads = cfg.kv_heads,
  hidden = cfg.hidden, dropout = cfg.dropout, seed = cfg.seed})
local groups = recx.optim.param_groups(lm, {no_decay = {"norm", "bias"}, weight_decay = cfg.weight_decay})
local opt = recx.optim.adamw(groups, {lr = cfg.lr})
local sched = recx.optim.schedules.cosine(opt, {warmup_steps = cfg.warmup_steps, total_steps = cfg.decay_steps,
  min_lr_ratio = cfg.min_lr_ratio})
local rng = {data = data_gen}
if lm.model.drop then rng.dropout = lm.model.drop.generator end

-- Held-out loss (mean over every target) and next-token accuracy, dropout off, no tape.
local function evaluate()
  lm:eval()
  local loss_sum, correct, count = 0.0, 0, 0
  recx.no_grad(function()
    for _, b in ipairs(eval_set) do
      local logits <close> = lm(b.ids)                                        -- (n, Tn, V)
      local loss <close> = F.cross_entropy(logits:reshape(-1, V), b.tgt:reshape(-1))
      local pred <close> = logits:argmax(3)                                   -- (n, Tn)
      local n = b.tgt:numel()
      loss_sum = loss_sum + loss:item() * n
      correct = correct + pred:eq(b.tgt):sum():item()
      count = count + n
    end
  end)
  lm:train()
  return loss_sum / count, correct / count
end

-- ---- resume or start over --------------------------------------------------------------------
-- Settings that may change between a checkpoint and the run that resumes it.
local run_keys = {steps = true, eval_every = true, log_every = true, ckpt_every = true, threads = true, out = true,
  resume = true}

local function check_config(saved)
  if type(saved) ~= "table" then fail("%s has no configuration: it was not written by %s", files.checkpoint, NAME) end
  local diffs = {}
  local keys = {}
  for k in pairs(cfg) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not run_keys[k] and saved[k] ~= cfg[k] then
      local hint = ""
      if k == "decay_steps" then
        hint = string.format(" (decay_steps=0 means steps: pass decay_steps=%s to continue the saved schedule)",
          tostring(saved[k]))
      end
      diffs[#diffs + 1] = string.format("%s=%s there, %s now%s", k, tostring(saved[k]), tostring(cfg[k]), hint)
    end
  end
  if #diffs > 0 then
    fail("%s comes from a different configuration: %s. resume=true needs the same settings (only %s may change); "
      .. "run with resume=false to start over", files.checkpoint, table.concat(diffs, "; "),
      "steps, eval_every, log_every, ckpt_every, threads, out")
  end
end

-- Running totals, saved in every checkpoint so that a resumed run continues them exactly.
local totals = {window_sum = 0.0, window_n = 0, tokens = 0, seconds = 0.0}
local start = 0
local history = {} -- every metrics record of the run, in order

if cfg.resume and exists(files.checkpoint) then
  local ck = checkpoint.load(files.checkpoint)
  if type(ck.extra) ~= "table" or ck.extra.recipe ~= NAME then
    fail("%s was not written by %s (give another out= or resume=false)", files.checkpoint, NAME)
  end
  check_config(ck.config)
  if ck.step > cfg.steps then
    fail("%s is at step %d, beyond steps=%d (give steps >= %d)", files.checkpoint, ck.step, cfg.steps, ck.step)
  end
  start = checkpoint.resume(files.checkpoint, {model = lm, optimizer = opt, scheduler = sched, rng = rng})
  for k in pairs(totals) do totals[k] = ck.extra[k] end
  -- keep the metrics up to the checkpoint; later lines belong to steps that will be redone
  local f = io.open(files.metrics, "r")
  if f then
    for line in f:lines() do
      local ok, rec = pcall(cjson.decode, line) -- a line cut short by a crash is dropped
      if ok and type(rec) == "table" and type(rec.step) == "number" and rec.step <= start then
        rec.step = math.tointeger(rec.step) or rec.step
        history[#history + 1] = rec
      end
    end
    f:close()
  end
  print(string.format("%s: resuming from %s at step %d", NAME, files.checkpoint, start))
else
  if cfg.resume then print(string.format("%s: no checkpoint in %s: starting at step 0", NAME, cfg.out)) end
  if exists(files.checkpoint) then
    print(string.format("%s: replacing the earlier run in %s (resume=true would continue it)", NAME, cfg.out))
  end
  os.remove(files.checkpoint)
  os.remove(files.result)
  os.remove(files.plot)
end

do -- rewrite the metrics file with the kept lines (atomically), then append to it
  local tmp = files.metrics .. ".tmp"
  local log = recx.progress.jsonl(tmp, {truncate = true})
  for _, rec in ipairs(history) do log:write(rec) end
  log:close()
  local ok, err = os.rename(tmp, files.metrics)
  if not ok then fail("cannot write %s: %s", files.metrics, tostring(err)) end
end
local metrics = recx.progress.jsonl(files.metrics)

local nparams = lm:num_parameters()
print(string.format("%s: %d parameters (dim %d, %d layers, %d/%d heads, hidden %d); task: progressions mod %d, "
  .. "strides 1..%d, %d tokens per sequence", NAME, nparams, cfg.dim, cfg.layers, cfg.heads, cfg.kv_heads, cfg.hidden,
  V, S, Tn))
print(string.format("%s: loss levels: uniform %.4f, context-blind %.4f, optimal %.4f; %d steps of %d x %d tokens -> %s",
  NAME, levels.uniform, levels.context_blind, levels.optimal, cfg.steps, cfg.batch, Tn, cfg.out))

-- ---- training -----------------------------------------------------------------------------------
local last_ckpt = start > 0 and start or nil -- the step the checkpoint file holds, as far as we know

-- The step the checkpoint file holds. After an interrupt it is read from the file: Ctrl-C raises
-- at the next Lua instruction, which may come after the file was replaced and before last_ckpt
-- was updated.
local function held_step()
  if not exists(files.checkpoint) then return nil end
  local ok, ck = pcall(checkpoint.load, files.checkpoint)
  if ok and math.type(ck.step) == "integer" then return ck.step end
  return last_ckpt
end

local function save_checkpoint(step)
  local extra = {recipe = NAME}
  for k, v in pairs(totals) do extra[k] = v end
  checkpoint.save(files.checkpoint, {model = lm, optimizer = opt, scheduler = sched, step = step, rng = rng,
    config = cfg, extra = extra})
  last_ckpt = step
end

local function record(rec)
  metrics:write(rec)
  history[#history + 1] = rec
end

local bar = recx.progress.bar({total = cfg.steps - start,
  label = start > 0 and string.format("train (from step %d)", start) or "train"})
local clock0 = recx.clock()
local seconds0 = totals.seconds
local step = start

local ok, err = xpcall(function()
  if start == 0 then -- the untrained model, so that the eval curve starts where training does
    local eval_loss, accuracy = evaluate()
    record({kind = "eval", step = 0, loss = eval_loss, accuracy = accuracy})
  end
  lm:train()
  while step < cfg.steps do
    step = step + 1
    local ids, tgt = batch(cfg.batch, data_gen)
    local loss <close> = lm:loss(ids, tgt)
    local loss_value = loss:item()
    if loss_value ~= loss_value or math.abs(loss_value) == math.huge then
      fail("the training loss is %s at step %d: the run diverged (try a lower lr than %g)", tostring(loss_value), step,
        cfg.lr)
    end
    loss:backward()
    local grad_norm = recx.optim.clip_grad_norm(opt:params(), cfg.clip)
    local lr = opt.param_groups[1].lr
    opt:step()
    sched:step()
    opt:zero_grad()
    totals.window_sum = totals.window_sum + loss_value
    totals.window_n = totals.window_n + 1
    totals.tokens = totals.tokens + cfg.batch * Tn
    totals.seconds = seconds0 + (recx.clock() - clock0)
    local fields = {lr = lr}
    if step % cfg.log_every == 0 or step == cfg.steps then
      local mean = totals.window_sum / totals.window_n
      record({kind = "train", step = step, loss = mean, lr = lr, grad_norm = grad_norm, tokens = totals.tokens,
        seconds = totals.seconds})
      totals.window_sum, totals.window_n = 0.0, 0
      fields.loss = mean
    end
    if step % cfg.eval_every == 0 or step == cfg.steps then
      local eval_loss, accuracy = evaluate()
      record({kind = "eval", step = step, loss = eval_loss, accuracy = accuracy})
      fields.eval_loss, fields.eval_acc = eval_loss, accuracy
    end
    if step % cfg.ckpt_every == 0 or step == cfg.steps then save_checkpoint(step) end
    bar:step(1, fields)
  end
  -- a run resumed at its last step (a checkpoint of a longer run) still ends with an evaluation
  local last = history[#history]
  if not (last and last.kind == "eval" and last.step == cfg.steps) then
    local eval_loss, accuracy = evaluate()
    record({kind = "eval", step = cfg.steps, loss = eval_loss, accuracy = accuracy})
  end
end, function(e)
  local msg = tostring(e)
  if msg:find(NAME .. ": ", 1, true) == 1 or msg:find("interrupted", 1, true) then return msg end
  return debug.traceback(msg, 2) -- an unexpected error: keep where it happened
end)
metrics:close()
if not ok then
  if err:find("interrupted", 1, true) then
    local held = held_step()
    if held then
      fail("interrupted during step %d; %s holds step %d: rerun with resume=true to continue from there", step,
        files.checkpoint, held)
    end
    fail("interrupted during step %d, before the first checkpoint (step %d): nothing to resume", step,
      math.min(cfg.ckpt_every, cfg.steps))
  end
  error(err, 0)
end
bar:finish()

-- ---- result ---------------------------------------------------------------------------------------
local final_train, final_eval, best_eval
local train_x, train_y, eval_x, eval_y = {}, {}, {}, {}
for _, rec in ipairs(history) do
  if rec.kind == "train" then
    final_train = rec
    train_x[#train_x + 1], train_y[#train_y + 1] = rec.step, rec.loss
  elseif rec.kind == "eval" then
    final_eval = rec
    if not best_eval or rec.loss < best_eval then best_eval = rec.loss end
    eval_x[#eval_x + 1], eval_y[#eval_y + 1] = rec.step, rec.loss
  end
end
if not final_train or final_train.step ~= cfg.steps or not final_eval or final_eval.step ~= cfg.steps then
  fail("%s lacks the lines of step %d (was it edited?): rerun with resume=false", files.metrics, cfg.steps)
end

local seconds = totals.seconds
local result = {
  recipe = NAME,
  recx_version = recx.version,
  config = cfg,
  steps = cfg.steps,
  resumed_from = start,
  parameters = nparams,
  tokens = totals.tokens,
  seconds = seconds,
  tokens_per_second = seconds > 0 and totals.tokens / seconds or cjson.null,
  final_train_loss = final_train.loss,
  final_eval_loss = final_eval.loss,
  final_eval_accuracy = final_eval.accuracy,
  best_eval_loss = best_eval,
  context_blind_loss = levels.context_blind,
  optimal_loss = levels.optimal,
  optimal_accuracy = levels.optimal_accuracy,
  uniform_loss = levels.uniform,
  files = {metrics = files.metrics, checkpoint = files.checkpoint, plot = files.plot},
}
do
  local tmp = files.result .. ".tmp"
  local f, ferr = io.open(tmp, "w")
  if not f then fail("cannot write %s: %s", files.result, tostring(ferr)) end
  f:write(cjson.encode(result), "\n")
  f:close()
  local rok, rerr = os.rename(tmp, files.result)
  if not rok then fail("cannot write %s: %s", files.result, tostring(rerr)) end
end

plot.lines{
  path = files.plot,
  title = string.format("tiny LM (%d parameters) on progressions mod %d", nparams, V),
  xlabel = "step",
  ylabel = "cross-entropy (nats, log scale)",
  logy = true,
  series = {{name = "train", x = train_x, y = train_y}, {name = "eval (held out)", x = eval_x, y = eval_y}},
  hlines = {{y = levels.context_blind, name = string.format("context-blind %.3f", levels.context_blind)},
    {y = levels.optimal, name = string.format("optimal %.3f", levels.optimal)}},
}

print(string.format("%s: step %d: train loss %.4f, eval loss %.4f (context-blind %.4f, optimal %.4f), "
  .. "eval accuracy %.4f (optimal %.4f)", NAME, cfg.steps, final_train.loss, final_eval.loss, levels.context_blind,
  levels.optimal, final_eval.accuracy, levels.optimal_accuracy))
print(string.format("%s: %d tokens in %.1fs (%.0f tokens/s); wrote %s, %s, %s, %s", NAME, totals.tokens, seconds,
  seconds > 0 and totals.tokens / seconds or 0, files.result, files.metrics, files.plot, files.checkpoint))
