-- test_rec_train.lua — recommender training: the epoch loop (recx.rec.train), SASRec against the
-- popularity baseline, and recipes/train_recommender.lua + export_recommender.lua end to end.
--
-- Owns:
--   * the loop on a scripted metric sequence: the best model is written at each improvement,
--     ReduceLROnPlateau (mode max, patience 1, factor 0.1) cuts the lr after the 2nd epoch
--     without improvement, early stop after 5 such epochs; metrics.jsonl, result.json, plots
--   * SASRec (1 layer, dim 32) trained 6 epochs on synthetic data (1,000 users, 250 items,
--     seed 1): full-ranking HR@10 beats most-popular by at least 0.06 (measured on seeds 1/2/3:
--     HR@10 0.311/0.323/0.289 against popularity 0.187/0.177/0.162, margins 0.12-0.15)
--   * the recipe: a 2-epoch run equals a 1-epoch run resumed to 2 epochs (loss and every metric,
--     exactly); MF trained then exported: line counts (6 per test row), sim_item, embeddings
local T = require "harness"
local recx = require "recx"
local cjson = require "cjson"
local tensor = recx.tensor
local synthetic = require "recx.data.synthetic"
local batches = require "recx.rec.batches"
local eval = require "recx.rec.eval"
local train = require "recx.rec.train"
local model_file = require "recx.rec.model_file"
local SASRec = require "recx.models.sasrec"
local MF = require "recx.models.mf"

recx.num_threads(1)

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))

local function read_lines(path)
  local out = {}
  local f = io.open(path, "r")
  if not f then return out end
  for l in f:lines() do out[#out + 1] = l end
  f:close()
  return out
end

local function exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

T.case("epoch loop: best model, plateau, early stop", function()
  local m = MF({n_users = 3, n_items = 4, dim = 2, seed = 1})
  local opt = recx.optim.adamw(m:parameters(), {lr = 1.0, weight_decay = 0})
  local sched = recx.optim.schedules.reduce_lr_on_plateau(opt, {mode = "max", factor = 0.1, patience = 1})
  local script = {0.1, 0.2, 0.2, 0.19, 0.2, 0.18, 0.2, 0.2, 0.9}
  local e = 0
  local out = dir .. "/loop"
  local r = train.run{name = "loop", out_dir = out, config = {x = 1}, model = m, optimizer = opt, scheduler = sched,
    rng = {g = tensor.generator(1)}, epochs = 9, early_stop = 5, steps = 1,
    train_epoch = function(_, bar) bar:step(1); return 1.5 end,
    evaluate = function() e = e + 1; return {["ndcg@10"] = script[e], ["hit@10"] = 0} end}
  T.eq(r.epochs_run, 7, "stopped after 5 epochs without improvement (epochs 3..7)")
  T.eq(r.best_epoch, 2)
  T.ok(r.early_stopped, "early_stopped")
  local lrs = {}
  for i, l in ipairs(read_lines(out .. "/metrics.jsonl")) do lrs[i] = cjson.decode(l).lr end
  -- lr in effect during each epoch; the plateau cuts after epochs 4 and 6 (2 bad epochs each)
  T.near(lrs, {1, 1, 1, 1, 0.1, 0.1, 0.01}, 1e-12, "lrs")
  local _, _, extra = model_file.load(out .. "/model.safetensors")
  T.eq(extra.epoch, 2, "the best model is epoch 2's")
  for _, f in ipairs({"result.json", "curves.svg", "loss.svg", "ckpt.safetensors"}) do
    T.ok(exists(out .. "/" .. f), f)
  end
end)

T.case("an interrupt around a checkpoint names the epoch the file holds", function()
  -- Ctrl-C raises at the next Lua instruction: here inside checkpoint.save, before (epoch 2) and
  -- after (epoch 3) the file was replaced
  local checkpoint = require "recx.checkpoint"
  for _, case in ipairs({{when = "before", epoch = 2, holds = 1}, {when = "after", epoch = 3, holds = 3}}) do
    local m = MF({n_users = 3, n_items = 4, dim = 2, seed = 1})
    local opt = recx.optim.adamw(m:parameters(), {lr = 0.1, weight_decay = 0})
    local real, saves = checkpoint.save, 0
    checkpoint.save = function(path, spec)
      saves = saves + 1
      if case.when == "before" and saves == case.epoch then error("interrupted!", 0) end
      local r = real(path, spec)
      if case.when == "after" and saves == case.epoch then error("interrupted!", 0) end
      return r
    end
    local ok, err = pcall(train.run, {name = "intr", out_dir = dir .. "/intr_" .. case.when, config = {x = 1},
      model = m, optimizer = opt, rng = {g = tensor.generator(1)}, epochs = 6, early_stop = 6, steps = 1,
      train_epoch = function(_, bar) bar:step(1); return 1.0 end,
      evaluate = function() return {["ndcg@10"] = 0.1, ["hit@10"] = 0} end})
    checkpoint.save = real
    T.ok(not ok, case.when .. ": the run stops")
    T.ok(tostring(err):find(string.format("holds epoch %d: rerun with resume=true", case.holds), 1, true),
      case.when .. ": names epoch " .. case.holds .. ": " .. tostring(err))
  end
end)

T.case("SASRec beats popularity on synthetic data by >= 0.06 HR@10", function()
  local data = synthetic.generate{seed = 1, n_users = 1000, n_items = 250, min_len = 5, max_len = 15}
  synthetic.write(data, dir .. "/syn")
  local seqs, _, n_items = batches.read_sequences(dir .. "/syn/sequential_data.txt")
  local d = batches.leave_one_out(seqs, 9)
  local count = {}
  for u = 1, #seqs do for k = 1, #seqs[u] - 1 do count[seqs[u][k]] = (count[seqs[u][k]] or 0) + 1 end end
  local pop = {}
  for i = 0, n_items - 1 do pop[i + 1] = count[i] or 0 end
  local pop_t = tensor.from(pop):view(1, n_items)
  local pm = eval.full(function(x) return pop_t:expand({x:size(1), n_items}):contiguous() end, d.test.users,
    d.test.items, d.test.past)
  local m = SASRec.build{n_items = n_items, dim = 32, layers = 1, heads = 2, inner = 64, max_len = 9,
    hidden_dropout = 0.1, attn_dropout = 0.1, seed = 1}
  local opt = recx.optim.adamw(m:parameters(), {lr = 5e-3, weight_decay = 0})
  local g = tensor.generator(1)
  local N = d.train.n
  for _ = 1, 6 do
    m:train()
    local _, perm = tensor.rand(N, {generator = g}):sort()
    for first = 1, N, 256 do
      local idx = perm:narrow(1, first, math.min(256, N - first + 1))
      local loss <close> = m:loss(d.train.hist:index_select(1, idx), d.train.items:index_select(1, idx))
      loss:backward()
      recx.optim.clip_grad_norm(opt:params(), 10)
      opt:step()
      opt:zero_grad()
    end
  end
  m:eval()
  local r = eval.full(function(x) return m:scores(x) end, d.test.hist, d.test.items, d.test.past)
  print(string.format("  HR@10 SASRec %.4f, popularity %.4f; NDCG@10 %.4f / %.4f", r["hit@10"], pm["hit@10"],
    r["ndcg@10"], pm["ndcg@10"]))
  T.ok(r["hit@10"] >= pm["hit@10"] + 0.06, string.format("HR@10 %.4f >= popularity %.4f + 0.06", r["hit@10"],
    pm["hit@10"]))
end)

local recx_bin = arg[-1]
local function run(script, args)
  local cmd = string.format("%q ../../recipes/%s %s > %q 2>&1", recx_bin, script, args, dir .. "/log.txt")
  local ok = os.execute(cmd)
  if not ok then io.stderr:write(table.concat(read_lines(dir .. "/log.txt"), "\n"), "\n") end
  return ok
end

T.case("train_recommender: resume after epoch 1 equals a straight 2-epoch run", function()
  local data = synthetic.generate{seed = 2, n_users = 150, n_items = 40, min_len = 5, max_len = 10}
  synthetic.write(data, dir .. "/tiny")
  local common = "model=sasrec data_dir=" .. dir .. "/tiny dim=16 heads=2 inner=32 batch=128 lr=0.003"
  T.ok(run("train_recommender.lua", common .. " epochs=2 out_dir=" .. dir .. "/a"), "straight run")
  T.ok(run("train_recommender.lua", common .. " epochs=1 out_dir=" .. dir .. "/b"), "first epoch")
  T.ok(run("train_recommender.lua", common .. " epochs=2 resume=true out_dir=" .. dir .. "/b"), "resumed")
  local a, b = read_lines(dir .. "/a/metrics.jsonl"), read_lines(dir .. "/b/metrics.jsonl")
  T.eq(#a, 2)
  T.eq(#b, 2)
  for i = 1, math.min(#a, #b) do
    local x, y = cjson.decode(a[i]), cjson.decode(b[i])
    for _, k in ipairs({"loss", "lr", "ndcg@10", "hit@10", "mrr@20", "hit@1"}) do T.eq(y[k], x[k], k .. " epoch " .. i) end
  end
  local res = cjson.decode(table.concat(read_lines(dir .. "/a/result.json")))
  T.eq(res.epochs_run, 2)
  T.ok(res.best ~= nil and res.best["ndcg@10"] > 0, "result.json has the best epoch's metrics")
  T.ok(not run("train_recommender.lua", "model=sasrec data_dir=" .. dir .. "/tiny dim=32 epochs=2 resume=true out_dir=" ..
    dir .. "/b"), "resume with another dim is refused")
  T.ok(table.concat(read_lines(dir .. "/log.txt")):find("dim=16 there, 32 now", 1, true) ~= nil, "names the difference")
  local m, cfg = model_file.load(dir .. "/a/model.safetensors")
  T.eq(cfg.model, "SASRec")
  T.eq(cfg.max_seq_len, 9)
  T.eq(m:scores(tensor.from({{0, 0, 0, 0, 0, 0, 0, 1, 2}}, {dtype = "i64"})):shape(), {1, cfg.n_items})
end)

T.case("MF trained and exported by the recipes", function()
  T.ok(run("train_recommender.lua", "model=mf data_dir=" .. dir .. "/tiny dim=16 n_neg=20 epochs=1 out_dir=" ..
    dir .. "/mf"), "train mf")
  T.ok(run("export_recommender.lua", "model_path=" .. dir .. "/mf/model.safetensors data_dir=" .. dir ..
    "/tiny out_dir=" .. dir .. "/mfx"), "export mf")
  T.eq(#read_lines(dir .. "/mfx/test_top.txt"), 150 * 6, "6 lines per test row")
  T.ok(not exists(dir .. "/mfx/train_top.txt"), "MF exports the test rows only")
  local seqs, _, n_items = batches.read_sequences(dir .. "/tiny/sequential_data.txt")
  T.eq(#read_lines(dir .. "/mfx/sim_item.txt"), n_items - 1, "one sim line per item")
  local t = recx.safetensors.load(dir .. "/mfx/user_emb.safetensors")
  T.eq(t.embedding:shape(), {#seqs, 16})
  T.eq(t.uid:tolist()[3], 3)
  local it = recx.safetensors.load(dir .. "/mfx/item_emb.safetensors")
  T.eq(it.embedding:shape(), {n_items, 16})
  T.ok(exists(dir .. "/mfx/MF.safetensors"), "model copy")
end)

os.execute("rm -rf " .. dir)
T.done()
