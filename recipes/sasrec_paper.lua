-- sasrec_paper.lua — SASRec with the paper's setting and training protocol (Kang & McAuley,
-- ICDM 2018) on its "Games" data (SASRec's Video.txt), to check recx against the paper's
-- sampled-protocol figures (Games: HR@10 0.7410, NDCG@10 0.5360).
--
-- Model: SASRec.Paper (lua/recx/models/sasrec.lua: item embedding * sqrt(d) + learned positions,
-- dropout, blocks with LayerNorm on the query before attention, residual, point-wise ReLU FFN, a
-- final LayerNorm, padding masked). Setting (the authors' main.py defaults): max length 50, hidden
-- 50, 2 blocks, 1 head, dropout 0.5, Adam lr 1e-3 (beta2 0.98, no weight decay), batch 128,
-- 201 epochs of floor(users / batch) steps.
-- Data: per user, last item = test, second-last = validation, the rest = training (users with
-- fewer than 3 items only train). Each step draws `batch` users with more than one training
-- item; every position of their last max_len training items is a target against one negative
-- outside their training items; loss = binary cross-entropy over those positions.
-- Evaluation every eval_every epochs (and after the last): the sampled protocol on validation
-- (input: training items) and test (input: training items + the validation item): the target
-- against 100 negatives drawn uniformly from the items not among the user's training items (nor
-- the target), on 10,000 random users; the law of recx.rec.eval.sampled, computed on the 101
-- candidates only (batches.paper_candidates, then user vectors dotted with the candidates' item
-- vectors, 2048 users a batch) instead of full score rows. Every evaluation draws from a fresh
-- generator seeded seed + 3 (the same users and negatives each time), so an evaluation does not
-- depend on when the earlier ones ran: a resumed or max_minutes-stopped run evaluates the same.
--
-- Files in `out`: metrics.jsonl ({"kind":"train","epoch","loss","seconds"} per epoch and
-- {"kind":"eval","epoch","valid":{...},"test":{...}} per evaluation), result.json (config, the last
-- and the best-validation evaluation, epoch seconds), curves.svg (test HR@10 / NDCG@10 against the
-- epoch, with the paper's levels), model.safetensors (recx.rec.model_file, the last model).
-- max_minutes > 0 stops after the epoch that passes that wall time, evaluating there: a partial
-- run reports its epoch time and curve so far.
-- Checkpoint: out/ckpt.safetensors after every epoch (recx.checkpoint, written atomically): the
-- model, the Adam state, the epoch, both generators (training batches and dropout) and the
-- metrics so far. resume=true continues from it (metrics.jsonl is rewritten from the
-- checkpoint's records); the run then matches a straight run exactly. Only epochs, eval_every,
-- max_minutes, threads, device, out and resume may change between the two (a device change
-- continues the run, no longer bit for bit). Without resume=true an earlier run in out is replaced.
-- On device=cuda each step's batch goes to the device as one packed i64 tensor, and the losses
-- are read back every 25 steps (not every step).
--
-- Measured (docs/benchmarks.md "Recommenders"): 3.6 s per epoch on an H200, 17.6 s on one quiet
-- core of the 2-core VM; after the 201 epochs test HR@10 0.7394, NDCG@10 0.5394 (paper: 0.7410,
-- 0.5360).
--
--   recx recipes/sasrec_paper.lua                                # the full paper run
--   recx recipes/sasrec_paper.lua epochs=40 eval_every=10 out=/tmp/sp
--   recx recipes/sasrec_paper.lua device=cuda max_minutes=8 resume=true   # in pieces, same result
local recx = require "recx"
local cjson = require "cjson"
local SASRec = require "recx.models.sasrec"
local batches = require "recx.rec.batches"
local checkpoint = require "recx.checkpoint"
local F = recx.nn.functional
local model_file = require "recx.rec.model_file"
local plot = require "recx.plot"

local tensor = recx.tensor

local cfg = recx.config {
  data = "../shared/data/sasrec-video-2014/Video.txt", -- "user_id item_id" lines, grouped by user in time order
  max_len = 50,
  dim = 50,
  layers = 2,
  heads = 1,
  dropout = 0.5,
  lr = 1e-3,
  beta2 = 0.98,
  batch = 128,
  epochs = 201,
  steps_per_epoch = 0,   -- 0: floor(users / batch), as the authors' code
  eval_every = 20,
  eval_users = 10000,
  n_neg = 100,
  seed = 2018,
  threads = 1,           -- 1: on the shared 2-core VM two OpenMP threads ran 7x slower (see docs/benchmarks.md)
  device = "cpu",        -- cpu | cuda (batches are drawn on the CPU and moved)
  max_minutes = 0,       -- 0: no limit
  resume = false,        -- continue from out/ckpt.safetensors
  out = "out/sasrec_paper",
}

local NAME = "sasrec_paper"
local function fail(fmt, ...) error(NAME .. ": " .. string.format(fmt, ...), 0) end
for _, k in ipairs({"max_len", "dim", "layers", "heads", "batch", "epochs", "eval_every", "eval_users", "n_neg"}) do
  if cfg[k] < 1 then fail("%s=%s: expected an integer >= 1", k, tostring(cfg[k])) end
end
if cfg.dim % cfg.heads ~= 0 then fail("heads=%d must divide dim=%d", cfg.heads, cfg.dim) end
if cfg.device ~= "cpu" and not cfg.device:match("^cuda") then fail("device=%s: expected cpu or cuda", cfg.device) end
if cfg.device:match("^cuda") and not recx.cuda.is_available() then fail("device=%s: no CUDA device", cfg.device) end
local dev = cfg.device
recx.num_threads(cfg.threads)
if not os.execute("mkdir -p '" .. cfg.out:gsub("'", "'\\''") .. "'") then fail("cannot create %s", cfg.out) end
local f = io.open(cfg.data, "r")
if not f then fail("cannot read data=%s (SASRec's Video.txt; see shared/data/sasrec-video-2014/SOURCE.md)", cfg.data) end
f:close()

local files = {metrics = cfg.out .. "/metrics.jsonl", checkpoint = cfg.out .. "/ckpt.safetensors"}
local function exists(path)
  local h = io.open(path, "rb")
  if h then h:close() end
  return h ~= nil
end

local t_load = recx.clock()
local seqs, n_users, n_items = batches.read_pairs(cfg.data)
local split = batches.paper_split(seqs)
local gen = tensor.generator(cfg.seed + 2)       -- training batches
local sampler = batches.paper_sampler(split.train, n_users, n_items, cfg.max_len, gen)
local valid_rows = {batches.paper_eval_rows(split, cfg.max_len, "valid")}
local test_rows = {batches.paper_eval_rows(split, cfg.max_len, "test")}
local steps = cfg.steps_per_epoch > 0 and cfg.steps_per_epoch or (n_users - 1) // cfg.batch
print(string.format("%s: %d users, %d items, %d interactions read in %.1fs; %d steps of %d users per epoch",
  NAME, n_users - 1, n_items - 1, (function() local c = 0 for _, s in pairs(seqs) do c = c + #s end return c end)(),
  recx.clock() - t_load, steps, cfg.batch))

local model = SASRec.build({variant = "paper", n_items = n_items, dim = cfg.dim, layers = cfg.layers,
  heads = cfg.heads, max_len = cfg.max_len, dropout = cfg.dropout, seed = cfg.seed})
if dev ~= "cpu" then model:to(dev) end
local opt = recx.optim.adamw(model:parameters(), {lr = cfg.lr, betas = {0.9, cfg.beta2}, weight_decay = 0})
local rng = {batches = gen, dropout = model.generator}

-- Ranking metrics of recx.data.metrics (hit/ndcg/mrr at 1, 5, 10, 20) from a Lua list of 1-based
-- ranks, averaged in doubles.
local KS = {1, 5, 10, 20}
local function rank_metrics(ranks)
  local out = {}
  for _, k in ipairs(KS) do out["hit@" .. k], out["ndcg@" .. k], out["mrr@" .. k] = 0.0, 0.0, 0.0 end
  for _, r in ipairs(ranks) do
    for _, k in ipairs(KS) do
      if r <= k then
        out["hit@" .. k] = out["hit@" .. k] + 1
        out["ndcg@" .. k] = out["ndcg@" .. k] + math.log(2) / math.log(r + 1)
        out["mrr@" .. k] = out["mrr@" .. k] + 1 / r
      end
    end
  end
  for key, v in pairs(out) do out[key] = #ranks > 0 and v / #ranks or 0 end
  return out
end

-- The sampled protocol on one split's rows {users, hist, targets, rated}: at most eval_users
-- users drawn without replacement, their candidates (target first), ranks = 1 + the number of
-- candidates scoring strictly above the target.
local function sampled(rows, g)
  local hist, targets, rated = rows[2], rows[3], rows[4]
  local U = targets:size(1)
  if U > cfg.eval_users then
    local pick = tensor.ones(U):multinomial(cfg.eval_users, false, {generator = g})
    local keep = {}
    for k, r in ipairs(pick:tolist()) do keep[k] = rated[r + 1] end
    hist, targets, rated, U = hist:index_select(1, pick), targets:index_select(1, pick), keep, cfg.eval_users
  end
  local cand = batches.paper_candidates(targets, rated, n_items, cfg.n_neg, g)     -- (U, 1 + n_neg)
  local ranks = {}
  local w = model:item_vectors()
  recx.no_grad(function()
    for first = 1, U, 2048 do
      local b = math.min(2048, U - first + 1)
      local h, c = hist:narrow(1, first, b), cand:narrow(1, first, b)
      if dev ~= "cpu" then h, c = h:to(dev), c:to(dev) end
      local user = model:user_embedding(h)                                         -- (b, dim)
      local cs = (F.embedding(w, c) * user:view(b, 1, cfg.dim)):sum(3)             -- (b, 1 + n_neg)
      local r = (cs:gt(cs:narrow(2, 1, 1)):sum(2) + 1):to("cpu"):tolist()
      for _, v in ipairs(r) do ranks[#ranks + 1] = v end
    end
  end)
  return rank_metrics(ranks)
end

local function evaluate()
  model:eval()
  local g = tensor.generator(cfg.seed + 3)
  local v = sampled(valid_rows, g)
  local t = sampled(test_rows, g)
  model:train()
  return v, t
end

-- ---- resume or start over -------------------------------------------------------------------
local run_keys = {epochs = true, eval_every = true, max_minutes = true, threads = true, device = true, out = true,
  resume = true}
local history, epoch_seconds = {}, {} -- every metrics record so far; seconds of each epoch
local state = {epoch = 0, seconds = 0.0} -- epochs done; wall seconds of the run before this process
if cfg.resume and exists(files.checkpoint) then
  local ck = checkpoint.load(files.checkpoint)
  if type(ck.extra) ~= "table" or ck.extra.recipe ~= NAME then
    fail("%s was not written by %s (give another out= or resume=false)", files.checkpoint, NAME)
  end
  local diffs, keys = {}, {}
  for k in pairs(cfg) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    if not run_keys[k] and ck.config[k] ~= cfg[k] then
      diffs[#diffs + 1] = string.format("%s=%s there, %s now", k, tostring(ck.config[k]), tostring(cfg[k]))
    end
  end
  if #diffs > 0 then
    fail("%s comes from a different configuration: %s. resume=true needs the same settings (only epochs, eval_every, "
      .. "max_minutes, threads, device, out may change); run with resume=false to start over", files.checkpoint,
      table.concat(diffs, "; "))
  end
  checkpoint.resume(files.checkpoint, {model = model, optimizer = opt, rng = rng})
  state.epoch, state.seconds = ck.step, ck.extra.seconds
  history, epoch_seconds = ck.extra.history or {}, ck.extra.epoch_seconds or {}
  print(string.format("%s: resuming from %s after epoch %d", NAME, files.checkpoint, state.epoch))
else
  if cfg.resume then print(string.format("%s: no checkpoint in %s: starting at epoch 1", NAME, cfg.out)) end
  os.remove(files.checkpoint)
end
do -- the metrics file holds exactly the records so far (written atomically), then grows
  local tmp = files.metrics .. ".tmp"
  local l = recx.progress.jsonl(tmp, {truncate = true})
  for _, rec in ipairs(history) do l:write(rec) end
  l:close()
  local ok, err = os.rename(tmp, files.metrics)
  if not ok then fail("cannot write %s: %s", files.metrics, tostring(err)) end
end
local log = recx.progress.jsonl(files.metrics)
local function record(rec)
  history[#history + 1] = rec
  log:write(rec)
end

-- ---- training ---------------------------------------------------------------------------------
local READ_EVERY = 25 -- steps between reading the losses back (one device sync)
local t_start = recx.clock()
local last_epoch = state.epoch
for epoch = state.epoch + 1, cfg.epochs do
  local t0 = recx.clock()
  local bar = recx.progress.bar({total = steps, label = string.format("epoch %d/%d", epoch, cfg.epochs)})
  local loss_sum, pending = 0.0, {}
  local function read_losses() -- sums the pending losses in step order, in doubles
    if #pending == 0 then return end
    local vals = (#pending == 1 and pending[1]:view(1) or tensor.stack(pending)):to("cpu"):tolist()
    for _, v in ipairs(vals) do
      if v ~= v then fail("the loss is NaN at epoch %d", epoch) end
      loss_sum = loss_sum + v
    end
    bar:update(bar.current + #pending, {loss = loss_sum / (bar.current + #pending)})
    pending = {}
  end
  model:train()
  for step = 1, steps do
    local seq, pos, neg, rows = sampler:batch(cfg.batch)
    if dev ~= "cpu" then -- one host-to-device copy a step
      local B, L, K = cfg.batch, cfg.max_len, rows:size(1)
      local n = B * L
      local all = tensor.cat({seq:reshape(n), pos:reshape(n), neg:reshape(n), rows}, 1):to(dev)
      seq, pos, neg = all:narrow(1, 1, n):view(B, L), all:narrow(1, n + 1, n):view(B, L), all:narrow(1, 2 * n + 1, n):view(B, L)
      rows = all:narrow(1, 3 * n + 1, K)
    end
    local loss <close> = model:bce_loss(seq, pos, neg, rows)
    loss:backward()
    opt:step()
    opt:zero_grad()
    pending[#pending + 1] = loss:detach()
    if #pending == READ_EVERY or step == steps then read_losses() end
  end
  local secs = recx.clock() - t0
  bar:finish({loss = loss_sum / steps})
  epoch_seconds[#epoch_seconds + 1] = secs
  record({kind = "train", epoch = epoch, loss = loss_sum / steps, seconds = secs})
  last_epoch = epoch
  local out_of_time = cfg.max_minutes > 0 and (recx.clock() - t_start) > cfg.max_minutes * 60
  if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or out_of_time then
    local v, t = evaluate()
    record({kind = "eval", epoch = epoch, valid = v, test = t})
    print(string.format("%s: epoch %d: valid HR@10 %.4f NDCG@10 %.4f; test HR@10 %.4f NDCG@10 %.4f (%.1fs/epoch)",
      NAME, epoch, v["hit@10"], v["ndcg@10"], t["hit@10"], t["ndcg@10"], secs))
  end
  checkpoint.save(files.checkpoint, {model = model, optimizer = opt, step = epoch, rng = rng, config = cfg,
    extra = {recipe = NAME, seconds = state.seconds + recx.clock() - t_start, history = history,
      epoch_seconds = epoch_seconds}})
  if out_of_time then
    print(string.format("%s: stopping after epoch %d: max_minutes=%g reached (resume=true continues)", NAME, epoch,
      cfg.max_minutes))
    break
  end
end
log:close()

local evals = {}
for _, rec in ipairs(history) do if rec.kind == "eval" then evals[#evals + 1] = rec end end
if #evals == 0 then fail("%s has no evaluation (epochs=%d: nothing left to run?)", files.metrics, cfg.epochs) end
local best = evals[1]
for _, e in ipairs(evals) do if e.valid["ndcg@10"] > best.valid["ndcg@10"] then best = e end end
local mean_epoch = 0
for _, s in ipairs(epoch_seconds) do mean_epoch = mean_epoch + s end
mean_epoch = mean_epoch / #epoch_seconds
model_file.save(cfg.out .. "/model.safetensors", model)
local result = {recipe = NAME, recx_version = recx.version, config = cfg, epochs_run = last_epoch,
  seconds = state.seconds + recx.clock() - t_start, epoch_seconds = mean_epoch, last = evals[#evals], best_valid = best,
  paper = {["hit@10"] = 0.7410, ["ndcg@10"] = 0.5360}}
local rf = assert(io.open(cfg.out .. "/result.json", "w"))
rf:write(cjson.encode(result), "\n")
rf:close()
local xs, hr, nd = {}, {}, {}
for _, e in ipairs(evals) do xs[#xs + 1], hr[#hr + 1], nd[#nd + 1] = e.epoch, e.test["hit@10"], e.test["ndcg@10"] end
plot.lines{path = cfg.out .. "/curves.svg", title = "SASRec (paper setting) on Video.txt, sampled protocol",
  xlabel = "epoch", ylabel = "test metric",
  series = {{name = "HR@10", x = xs, y = hr}, {name = "NDCG@10", x = xs, y = nd}},
  hlines = {{y = 0.7410, name = "paper HR@10 0.7410"}, {y = 0.5360, name = "paper NDCG@10 0.5360"}}}
local l = evals[#evals]
print(string.format("%s: %d epochs in %.0fs (%.1fs/epoch); test HR@10 %.4f (paper 0.7410), NDCG@10 %.4f (paper 0.5360)",
  NAME, last_epoch, result.seconds, mean_epoch, l.test["hit@10"], l.test["ndcg@10"]))
