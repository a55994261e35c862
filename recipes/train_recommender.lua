-- train_recommender.lua — trains the target recommender (SPEC 3.1 SASRec or SPEC 3.2 MF) on a
-- prepared dataset, the way UniRec does for RecExplainer.
--
-- Input: data_dir/sequential_data.txt ("uid iid1 iid2 ..." per line, 1-based ids, time order;
-- written by recipes/prepare_data.lua or recipes/make_synthetic.lua). The SPEC 2.3 split is
-- derived from it: training rows = positions 2..n-1 of each user, test = valid = position n.
--   sasrec  each training row's history (the items before it, last max_len, left-padded) predicts
--           the item with the full-softmax loss over all n_items ids (padding included)
--   mf      each training row (uid, item) against n_neg uniform negatives (re-drawn when equal to
--           the item or in the user's sequence, up to 100 times; recx.rec.batches.negatives),
--           sampled-softmax loss
-- Both: AdamW, gradient clipping, ReduceLROnPlateau (mode max, factor 0.1, patience 1, rel
-- threshold 1e-4) on full-ranking NDCG@10 of the test rows (history masked, padding masked),
-- early stop after 5 epochs without improvement, at most `epochs` epochs; rows shuffled each
-- epoch. Values 0 for dim, lr, batch, clip, seed pick the model's SPEC value:
--   sasrec: dim 256, lr 3.112577321994525e-4, batch 2048, clip 10, seed 3418
--   mf:     dim 512, lr 4.432861648876859e-3, batch 128, clip 0.7467958582006463, seed 436913
-- Files in out_dir (recx.rec.train): metrics.jsonl (per epoch: loss, lr, hit/ndcg/mrr@{1,5,10,20},
-- seconds), model.safetensors (the best epoch, recx.rec.model_file: rebuilds with its config),
-- ckpt.safetensors (every epoch; resume=true continues from it), result.json, curves.svg, loss.svg.
-- Measured (docs/benchmarks.md "Recommenders"): SASRec on the prepared Games data early-stops
-- after 29 epochs, best NDCG@10 0.0851 / HR@10 0.1480 at epoch 24, 32-90 s per epoch on 1 thread.
--
--   recx recipes/train_recommender.lua model=sasrec data_dir=out/data out_dir=out/sasrec
--   recx recipes/train_recommender.lua model=mf data_dir=out/data out_dir=out/mf
--   recx recipes/train_recommender.lua model=sasrec data_dir=out/data out_dir=out/sasrec resume=true
local recx = require "recx"
local SASRec = require "recx.models.sasrec"
local MF = require "recx.models.mf"
local batches = require "recx.rec.batches"
local eval = require "recx.rec.eval"
local train = require "recx.rec.train"

local tensor = recx.tensor

local cfg = recx.config {
  model = "sasrec",           -- sasrec | mf
  data_dir = "out/data",      -- holds sequential_data.txt
  out_dir = "out/train_recommender",
  device = "cpu",             -- cpu | cuda
  dtype = "f32",
  -- SASRec (SPEC 3.1)
  layers = 2,
  heads = 16,
  inner = 512,
  max_len = 9,
  eps = 1e-10,
  hidden_dropout = 0.4954053313841075,
  attn_dropout = 0.1871672079253271,
  -- MF (SPEC 3.2)
  n_neg = 285,
  neg_retries = 100,
  -- both (0: the model's SPEC value, see the header)
  dim = 0,
  lr = 0.0,
  batch = 0,
  clip = 0.0,
  seed = 0,
  weight_decay = 0.0,
  epochs = 100,
  early_stop = 5,
  metric = "ndcg@10",
  plateau_factor = 0.1,
  plateau_patience = 1,
  plateau_threshold = 1e-4,
  eval_batch = 512,
  threads = 1,
  resume = false,
}

local NAME = "train_recommender"
local function fail(fmt, ...) error(NAME .. ": " .. string.format(fmt, ...), 0) end
if cfg.model ~= "sasrec" and cfg.model ~= "mf" then fail("model=%s: expected sasrec or mf", cfg.model) end
if cfg.dtype ~= "f32" then fail("dtype=%s: only f32 is supported", cfg.dtype) end
if cfg.device ~= "cpu" and not cfg.device:match("^cuda") then fail("device=%s: expected cpu or cuda", cfg.device) end
if cfg.device:match("^cuda") and not recx.cuda.is_available() then fail("device=%s: no CUDA device", cfg.device) end
local spec_defaults = {
  sasrec = {dim = 256, lr = 3.112577321994525e-4, batch = 2048, clip = 10.0, seed = 3418},
  mf = {dim = 512, lr = 4.432861648876859e-3, batch = 128, clip = 0.7467958582006463, seed = 436913},
}
for k, v in pairs(spec_defaults[cfg.model]) do
  if cfg[k] == 0 then cfg[k] = v end
end
for _, k in ipairs({"dim", "batch", "epochs", "early_stop", "max_len", "n_neg", "eval_batch", "layers", "heads"}) do
  if cfg[k] < 1 then fail("%s=%s: expected an integer >= 1", k, tostring(cfg[k])) end
end
if cfg.lr <= 0 or cfg.clip <= 0 then fail("lr and clip must be positive") end
recx.num_threads(cfg.threads)

local seq_path = cfg.data_dir .. "/sequential_data.txt"
local seqs, n_users, n_items = batches.read_sequences(seq_path)
for u = 1, n_users - 1 do
  if #seqs[u] < 3 then fail("%s: user %d has %d items; the split needs at least 3", seq_path, u, #seqs[u]) end
end
local data = batches.leave_one_out(seqs, cfg.max_len)
local sets = batches.item_sets(seqs)
local dev = cfg.device
print(string.format("%s: %s on %s: %d users, %d items, %d training rows, %d test rows", NAME, cfg.model, seq_path,
  n_users - 1, n_items - 1, data.train.n, data.test.n))

local model
if cfg.model == "sasrec" then
  model = SASRec.build({n_items = n_items, dim = cfg.dim, layers = cfg.layers, heads = cfg.heads, inner = cfg.inner,
    max_len = cfg.max_len, eps = cfg.eps, hidden_dropout = cfg.hidden_dropout, attn_dropout = cfg.attn_dropout,
    seed = cfg.seed})
else
  model = MF({n_users = n_users, n_items = n_items, dim = cfg.dim, seed = cfg.seed})
end
if dev ~= "cpu" then model:to(dev) end
local opt = recx.optim.adamw(model:parameters(), {lr = cfg.lr, weight_decay = cfg.weight_decay})
local sched = recx.optim.schedules.reduce_lr_on_plateau(opt, {mode = "max", factor = cfg.plateau_factor,
  patience = cfg.plateau_patience, threshold = cfg.plateau_threshold, threshold_mode = "rel"})
local shuffle_gen = tensor.generator(cfg.seed + 7)
local rng = {shuffle = shuffle_gen}
if model.generator then rng.dropout = model.generator end

local N = data.train.n
local steps = (N + cfg.batch - 1) // cfg.batch
local users_list = data.train.users:tolist()
local items_list = data.train.items:tolist()

-- The loss of the rows idx (b) of the training set.
local function batch_loss(idx, b)
  if cfg.model == "sasrec" then
    return model:loss(data.train.hist:index_select(1, idx):to(dev), data.train.items:index_select(1, idx):to(dev))
  end
  local us, its = {}, {}
  for k, r in ipairs(idx:tolist()) do us[k], its[k] = users_list[r + 1], items_list[r + 1] end
  local negs = batches.negatives(us, its, cfg.n_neg, n_items, sets, shuffle_gen, cfg.neg_retries)
  local cand = tensor.cat({data.train.items:index_select(1, idx):view(b, 1), negs}, 2)
  return model:sampled_loss(data.train.users:index_select(1, idx):to(dev), cand:to(dev))
end

-- One epoch. Nothing in a step reads the device: the loss times the batch size is added into an
-- f64 accumulator on the device (the f32 loss widened, multiplied and added in f64: the same
-- operations, in the same order, as a host sum of loss:item() * b) and clipping keeps its norm
-- on the device, so on CUDA the host queues the next step while the GPU computes. The sum is
-- read every READ_EVERY steps (the progress bar's loss) and at the epoch's end; a NaN loss
-- shows up there, naming the steps it came from.
local READ_EVERY = 25
local function train_epoch(epoch, bar)
  local _, perm = tensor.rand(N, {generator = shuffle_gen}):sort()
  local loss_sum <close> = tensor.zeros({}, {dtype = "f64", device = dev})
  local count, step, read_step, mean = 0, 0, 0, 0.0
  for first = 1, N, cfg.batch do
    local b = math.min(cfg.batch, N - first + 1)
    local loss <close> = batch_loss(perm:narrow(1, first, b), b)
    local weighted <close> = loss:detach():to("f64")
    loss_sum:add_(weighted:mul_(b))
    loss:backward()
    local norm <close> = recx.optim.clip_grad_norm(opt:params(), cfg.clip, {as_tensor = true})
    opt:step()
    opt:zero_grad()
    count, step = count + b, step + 1
    if step % READ_EVERY == 0 or first + b > N then
      local total = loss_sum:item()
      if total ~= total then
        fail("the training loss became NaN between steps %d and %d of epoch %d; try a lower lr than %g", read_step + 1,
          step, epoch, cfg.lr)
      end
      read_step, mean = step, total / count
      bar:step(1, {loss = mean})
    else
      bar:step(1)
    end
  end
  return mean
end

local test_inputs = cfg.model == "sasrec" and data.test.hist or data.test.users
local function evaluate()
  return eval.full(function(x) return model:scores(x:to(dev)):to("cpu") end, test_inputs, data.test.items,
    data.test.past, {batch = cfg.eval_batch})
end

local result = train.run{name = NAME, out_dir = cfg.out_dir, config = cfg,
  run_keys = {epochs = true, threads = true, resume = true, eval_batch = true, out_dir = true, data_dir = true,
    device = true},
  model = model, optimizer = opt, scheduler = sched, rng = rng, epochs = cfg.epochs, early_stop = cfg.early_stop,
  metric = cfg.metric, steps = steps, train_epoch = train_epoch, evaluate = evaluate, resume = cfg.resume,
  model_extra = {data_dir = cfg.data_dir, n_users = n_users}}

local b = result.best or {}
print(string.format("%s: %d epochs (%.1fs each), best epoch %d: ndcg@10 %.4f hit@10 %.4f mrr@10 %.4f%s; wrote %s",
  NAME, result.epochs_run, result.epoch_seconds, result.best_epoch, b["ndcg@10"] or 0, b["hit@10"] or 0,
  b["mrr@10"] or 0, result.early_stopped and " (early stop)" or "", cfg.out_dir))
