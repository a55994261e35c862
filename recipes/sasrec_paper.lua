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
-- against 100 negatives drawn uniformly from the items not among the user's training items, on
-- 10,000 random users (recx.rec.eval.sampled).
--
-- Files in `out`: metrics.jsonl ({"kind":"train","epoch","loss","seconds"} per epoch and
-- {"kind":"eval","epoch","valid":{...},"test":{...}} per evaluation), result.json (config, the last
-- and the best-validation evaluation, epoch seconds), curves.svg (test HR@10 / NDCG@10 against the
-- epoch, with the paper's levels), model.safetensors (recx.rec.model_file, the last model).
-- max_minutes > 0 stops after the epoch that passes that wall time, evaluating there: a partial
-- run reports its epoch time and curve so far.
--
-- Measured (docs/benchmarks.md "Recommenders", shared 2-core VM, 1 thread): 38-96 s per epoch;
-- after 15 epochs test HR@10 0.6756, NDCG@10 0.4490 and still rising (paper, 201 epochs: 0.7410,
-- 0.5360).
--
--   recx recipes/sasrec_paper.lua                                # the full paper run
--   recx recipes/sasrec_paper.lua epochs=40 eval_every=10 out=/tmp/sp
local recx = require "recx"
local cjson = require "cjson"
local SASRec = require "recx.models.sasrec"
local batches = require "recx.rec.batches"
local eval = require "recx.rec.eval"
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

local t_load = recx.clock()
local seqs, n_users, n_items = batches.read_pairs(cfg.data)
local split = batches.paper_split(seqs)
local gen = tensor.generator(cfg.seed + 2)       -- training batches
local eval_gen = tensor.generator(cfg.seed + 3)  -- evaluation users and negatives
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

local function evaluate()
  model:eval()
  local function score(hist)
    if dev == "cpu" then return model:scores(hist) end
    return model:scores(hist:to(dev)):to("cpu")
  end
  local opts = {generator = eval_gen, n_neg = cfg.n_neg, max_users = cfg.eval_users}
  local v = eval.sampled(score, valid_rows[2], valid_rows[3], valid_rows[4], opts)
  local t = eval.sampled(score, test_rows[2], test_rows[3], test_rows[4], opts)
  model:train()
  return v, t
end

local log = recx.progress.jsonl(cfg.out .. "/metrics.jsonl", {truncate = true})
local evals, epoch_seconds = {}, {}
local t_start = recx.clock()
local last_epoch = 0
for epoch = 1, cfg.epochs do
  local t0 = recx.clock()
  local bar = recx.progress.bar({total = steps, label = string.format("epoch %d/%d", epoch, cfg.epochs)})
  local loss_sum = 0.0
  model:train()
  for _ = 1, steps do
    local seq, pos, neg, rows = sampler:batch(cfg.batch)
    if dev ~= "cpu" then seq, pos, neg, rows = seq:to(dev), pos:to(dev), neg:to(dev), rows:to(dev) end
    local loss <close> = model:bce_loss(seq, pos, neg, rows)
    local v = loss:item()
    if v ~= v then fail("the loss is NaN at epoch %d", epoch) end
    loss:backward()
    opt:step()
    opt:zero_grad()
    loss_sum = loss_sum + v
    bar:step(1, {loss = loss_sum / (bar.current + 1)})
  end
  local secs = recx.clock() - t0
  bar:finish({loss = loss_sum / steps})
  epoch_seconds[#epoch_seconds + 1] = secs
  log:write({kind = "train", epoch = epoch, loss = loss_sum / steps, seconds = secs})
  last_epoch = epoch
  local out_of_time = cfg.max_minutes > 0 and (recx.clock() - t_start) > cfg.max_minutes * 60
  if epoch % cfg.eval_every == 0 or epoch == cfg.epochs or out_of_time then
    local v, t = evaluate()
    local rec = {kind = "eval", epoch = epoch, valid = v, test = t}
    log:write(rec)
    evals[#evals + 1] = rec
    print(string.format("%s: epoch %d: valid HR@10 %.4f NDCG@10 %.4f; test HR@10 %.4f NDCG@10 %.4f (%.1fs/epoch)",
      NAME, epoch, v["hit@10"], v["ndcg@10"], t["hit@10"], t["ndcg@10"], secs))
  end
  if out_of_time then
    print(string.format("%s: stopping after epoch %d: max_minutes=%g reached", NAME, epoch, cfg.max_minutes))
    break
  end
end
log:close()

local best = evals[1]
for _, e in ipairs(evals) do if e.valid["ndcg@10"] > best.valid["ndcg@10"] then best = e end end
local mean_epoch = 0
for _, s in ipairs(epoch_seconds) do mean_epoch = mean_epoch + s end
mean_epoch = mean_epoch / #epoch_seconds
model_file.save(cfg.out .. "/model.safetensors", model)
local result = {recipe = NAME, recx_version = recx.version, config = cfg, epochs_run = last_epoch,
  seconds = recx.clock() - t_start, epoch_seconds = mean_epoch, last = evals[#evals], best_valid = best,
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
