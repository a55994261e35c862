-- recx.rec.train — the epoch loop shared by the recommender recipes.
--
-- Owns: epochs of training, an evaluation after each epoch, ReduceLROnPlateau on the watched
-- metric, early stopping (stop after `early_stop` epochs without a strictly better metric), the
-- best model written atomically whenever the metric improves (recx.rec.model_file), a checkpoint
-- after every epoch (recx.checkpoint: model, optimizer, scheduler, generators, config, loop
-- state) so that resume=true continues after a crash exactly where the last epoch ended, the
-- JSON-lines log, result.json and the SVG curves.
--
-- run(spec) with spec fields:
--   name, out_dir, config (saved in the checkpoint; resume needs the same values for every key
--     but those in spec.run_keys), run_keys ({key = true} that may change on resume)
--   model, optimizer, scheduler (a reduce_lr_on_plateau in mode max, or nil), rng ({name = gen})
--   epochs, early_stop, metric ("ndcg@10")
--   steps (steps per epoch), train_epoch(epoch, bar) -> mean training loss (steps the bar)
--   evaluate() -> metrics table (keys like "ndcg@10")
--   resume (boolean), model_extra (table stored in the best model file, optional)
-- Files in out_dir: metrics.jsonl (one {"epoch","loss","lr","seconds", every metric} per epoch),
-- ckpt.safetensors, model.safetensors (the best epoch), result.json, curves.svg (ndcg/hit/mrr@10 per
-- epoch), loss.svg.
-- Returns the result table.
local recx = require "recx"
local cjson = require "cjson"
local checkpoint = require "recx.checkpoint"
local model_file = require "recx.rec.model_file"
local plot = require "recx.plot"
local fs = require "recx.util.fs"

local M = {}

local function write_atomic(path, text)
  local ok, err = fs.write_atomic(path, text)
  if not ok then error("cannot write " .. path .. ": " .. err, 0) end
end

function M.run(spec)
  local name, out = spec.name, spec.out_dir
  local function fail(fmt, ...) error(name .. ": " .. string.format(fmt, ...), 0) end
  if not fs.mkdir_p(out) then
    fail("cannot create the output folder '%s'", out)
  end
  local files = {metrics = out .. "/metrics.jsonl", checkpoint = out .. "/ckpt.safetensors",
    model = out .. "/model.safetensors", result = out .. "/result.json", plot = out .. "/curves.svg", loss_plot = out .. "/loss.svg"}
  local metric, run_keys = spec.metric or "ndcg@10", spec.run_keys or {}
  local state = {epoch = 0, best = -math.huge, best_epoch = 0, bad = 0, seconds = 0.0, stopped = false}
  local history = {}

  if spec.resume and fs.exists(files.checkpoint) then
    local ck = checkpoint.load(files.checkpoint)
    if type(ck.extra) ~= "table" or ck.extra.recipe ~= name then
      fail("%s was not written by %s (give another out_dir= or resume=false)", files.checkpoint, name)
    end
    local diffs = {}
    for k, v in pairs(spec.config) do
      if not run_keys[k] and ck.config[k] ~= v then
        diffs[#diffs + 1] = string.format("%s=%s there, %s now", k, tostring(ck.config[k]), tostring(v))
      end
    end
    table.sort(diffs)
    if #diffs > 0 then
      fail("%s comes from a different configuration: %s; run with resume=false to start over", files.checkpoint,
        table.concat(diffs, "; "))
    end
    checkpoint.resume(files.checkpoint, {model = spec.model, optimizer = spec.optimizer, scheduler = spec.scheduler,
      rng = spec.rng})
    for k in pairs(state) do state[k] = ck.extra[k] end
    local f = io.open(files.metrics, "r")
    if f then
      for line in f:lines() do
        local ok, rec = pcall(cjson.decode, line)
        if ok and type(rec) == "table" and type(rec.epoch) == "number" and rec.epoch <= state.epoch then
          rec.epoch = math.tointeger(rec.epoch)
          history[#history + 1] = rec
        end
      end
      f:close()
    end
    print(string.format("%s: resuming from %s after epoch %d (best %s %.4f at epoch %d)", name, files.checkpoint,
      state.epoch, metric, state.best, state.best_epoch))
  else
    if fs.exists(files.checkpoint) then
      print(string.format("%s: replacing the earlier run in %s (resume=true would continue it)", name, out))
    end
    for _, p in pairs(files) do os.remove(p) end
  end
  do
    local tmp = files.metrics .. ".tmp"
    local log = recx.progress.jsonl(tmp, {truncate = true})
    for _, rec in ipairs(history) do log:write(rec) end
    log:close()
    assert(os.rename(tmp, files.metrics))
  end
  local log = recx.progress.jsonl(files.metrics)

  local ok, err = xpcall(function()
    while state.epoch < spec.epochs and not state.stopped do
      local epoch = state.epoch + 1
      local t0 = recx.clock()
      local bar = recx.progress.bar({total = spec.steps, label = string.format("epoch %d/%d", epoch, spec.epochs)})
      spec.model:train()
      local loss = spec.train_epoch(epoch, bar)
      bar:finish()
      local train_seconds = recx.clock() - t0
      spec.model:eval()
      local m = spec.evaluate()
      local lr = spec.optimizer.param_groups[1].lr
      local value = m[metric]
      if value > state.best then
        state.best, state.best_epoch, state.bad = value, epoch, 0
        local extra = {epoch = epoch, metrics = m, recipe = name}
        for k, v in pairs(spec.model_extra or {}) do extra[k] = v end
        model_file.save(files.model, spec.model, extra)
      else
        state.bad = state.bad + 1
      end
      if spec.scheduler then spec.scheduler:step(value) end
      state.epoch = epoch
      state.seconds = state.seconds + (recx.clock() - t0)
      state.stopped = state.bad >= spec.early_stop
      local rec = {epoch = epoch, loss = loss, lr = lr, seconds = recx.clock() - t0, train_seconds = train_seconds}
      for k, v in pairs(m) do rec[k] = v end
      log:write(rec)
      history[#history + 1] = rec
      local extra = {recipe = name}
      for k, v in pairs(state) do extra[k] = v end
      checkpoint.save(files.checkpoint, {model = spec.model, optimizer = spec.optimizer, scheduler = spec.scheduler,
        rng = spec.rng, step = epoch, config = spec.config, extra = extra})
      print(string.format("%s: epoch %d: loss %.4f, lr %.3g, %s %.4f, hit@10 %.4f (best %.4f at %d)%s", name, epoch,
        loss, lr, metric, value, m["hit@10"] or 0, state.best, state.best_epoch,
        state.stopped and string.format("; early stop after %d epochs without improvement", spec.early_stop) or ""))
    end
  end, function(e)
    local msg = tostring(e)
    if msg:find(name .. ": ", 1, true) == 1 then return msg end
    return debug.traceback(msg, 2)
  end)
  log:close()
  if not ok then
    if err:find("interrupted", 1, true) then
      -- the epoch the file holds is read from it: Ctrl-C raises at the next Lua instruction, which
      -- may fall between the end of an epoch's bookkeeping and the checkpoint's rename
      local ok_ck, ck = pcall(checkpoint.load, files.checkpoint)
      if not (ok_ck and math.type(ck.step) == "integer") then
        fail("interrupted during epoch %d, before the first checkpoint: nothing to resume", state.epoch + 1)
      end
      fail("interrupted during epoch %d; %s holds epoch %d: rerun with resume=true to continue", ck.step + 1,
        files.checkpoint, ck.step)
    end
    error(err, 0)
  end

  local best_rec
  local xs, loss_y, curves = {}, {}, {}
  for _, rec in ipairs(history) do
    if rec.epoch == state.best_epoch then best_rec = rec end
    xs[#xs + 1], loss_y[#loss_y + 1] = rec.epoch, rec.loss
    for _, k in ipairs({"ndcg@10", "hit@10", "mrr@10"}) do
      curves[k] = curves[k] or {}
      curves[k][#curves[k] + 1] = rec[k]
    end
  end
  local result = {recipe = name, recx_version = recx.version, config = spec.config, epochs_run = state.epoch,
    best_epoch = state.best_epoch, early_stopped = state.stopped, seconds = state.seconds,
    epoch_seconds = state.epoch > 0 and state.seconds / state.epoch or 0, best = best_rec, final = history[#history],
    files = files}
  write_atomic(files.result, cjson.encode(result) .. "\n")
  local series = {}
  for _, k in ipairs({"ndcg@10", "hit@10", "mrr@10"}) do
    if curves[k] and #curves[k] == #xs then series[#series + 1] = {name = k, x = xs, y = curves[k]} end
  end
  if #xs > 0 then
    plot.lines{path = files.plot, title = name .. ": full-ranking metrics (test = valid)", xlabel = "epoch",
      ylabel = "metric", series = series}
    plot.lines{path = files.loss_plot, title = name .. ": training loss", xlabel = "epoch", ylabel = "loss",
      series = {{name = "train loss", x = xs, y = loss_y}}}
  end
  return result
end

return M
