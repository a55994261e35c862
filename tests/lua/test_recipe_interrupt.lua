-- test_recipe_interrupt.lua — Ctrl-C raises at the next Lua instruction, which can come right
-- after a checkpoint file was replaced and before the recipe noted it. recipes/train_tiny_lm.lua
-- must then name the step the file really holds, and resuming continues from that step with one
-- metrics line per step. Deterministic: checkpoint.save is wrapped to raise "interrupted!" right
-- after its second real save (step 10), where a real Ctrl-C lands only sometimes.
local T = require "harness"
local recx = require "recx"
local cjson = require "cjson"
local config = require "recx.config"
local checkpoint = recx.checkpoint

local RECIPE = "../../recipes/train_tiny_lm.lua"
local out = os.tmpname()
os.remove(out)
local common = {"ckpt_every=5", "log_every=1", "eval_every=1000", "threads=1", "dim=32", "hidden=64", "heads=2",
  "kv_heads=1", "batch=8", "eval_size=16", "decay_steps=40", "warmup_steps=2", "out=" .. out}

-- Runs fn with checkpoint.save raising "interrupted!" right after its second real save.
local function interrupt_after_second_save(fn)
  local real, saves = checkpoint.save, 0
  checkpoint.save = function(...)
    local path = real(...)
    saves = saves + 1
    if saves == 2 then error("interrupted!", 0) end
    return path
  end
  local ok, a, b = pcall(fn)
  checkpoint.save = real
  if not ok then error(a, 0) end
  return a, b
end

local function run(extra)
  local args = {}
  for _, a in ipairs(common) do args[#args + 1] = a end
  for _, a in ipairs(extra) do args[#args + 1] = a end
  config.cli_args = args
  return pcall(dofile, RECIPE)
end

T.case("an interrupt right after a checkpoint names the step the file holds", function()
  local ok, err = interrupt_after_second_save(function() return run({"steps=40"}) end)
  T.ok(not ok, "the run stops")
  T.ok(tostring(err):find("holds step 10: rerun with resume=true", 1, true), "names step 10: " .. tostring(err))
  T.eq(checkpoint.load(out .. "/ckpt.safetensors").step, 10, "the file holds step 10")
end)

T.case("resuming continues from the step the file holds, one metrics line per step", function()
  local ok, err = run({"steps=12", "resume=true"})
  T.ok(ok, "the resumed run finishes: " .. tostring(err))
  local f = assert(io.open(out .. "/result.json"))
  local result = cjson.decode(f:read("a"))
  f:close()
  T.eq(result.resumed_from, 10, "resumed from step 10")
  local train, eval = {}, {}
  for line in io.lines(out .. "/metrics.jsonl") do
    local rec = cjson.decode(line)
    local list = rec.kind == "train" and train or eval
    list[#list + 1] = math.tointeger(rec.step)
  end
  T.eq(train, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, "train lines")
  T.eq(eval, {0, 12}, "eval lines")
end)

T.case("a run resumed at the checkpoint's own step still ends with an evaluation", function()
  -- a fresh 40-step run (resume=false) stopped after its step-10 checkpoint
  local ok = interrupt_after_second_save(function() return run({"steps=40"}) end)
  T.ok(not ok, "stopped")
  local ok2, err = run({"steps=10", "resume=true"})
  T.ok(ok2, "nothing left to train, the run still finishes: " .. tostring(err))
  local eval = {}
  for line in io.lines(out .. "/metrics.jsonl") do
    local rec = cjson.decode(line)
    if rec.kind == "eval" then eval[#eval + 1] = math.tointeger(rec.step) end
  end
  T.eq(eval, {0, 10}, "the final evaluation at step 10, once")
end)

os.execute("rm -rf '" .. out .. "'")
T.done()
