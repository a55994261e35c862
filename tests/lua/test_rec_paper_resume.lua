-- test_rec_paper_resume.lua — recipes/sasrec_paper.lua checkpoints and resumes exactly, on a small
-- synthetic "user item" file written here (no shared data needed).
--
-- Owns: 4 epochs straight == 2 epochs, then resume=true to 4: every metrics record (train loss
-- per epoch, every valid/test metric of the evaluations at epochs 2 and 4) compared exactly
-- (seconds excepted), the saved models element for element; resume=true on a finished run changes
-- nothing; resume=true with another model setting fails naming the setting; evaluations do not
-- depend on earlier ones (a run evaluating every epoch reports the same epoch-2 metrics).
-- Runs the recipe 6 times for a few seconds in all.
local T = require "harness"
local cjson = require "cjson"
local recx = require "recx"

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local data = dir .. "/pairs.txt"

do -- 120 users with 3..24 items each among 80, every line "user item", grouped by user
  local f = assert(io.open(data, "w"))
  local state = 12345
  local function rand(n) -- a fixed LCG: the file is the same on every platform
    state = (state * 1103515245 + 12345) % 2147483648
    return state % n
  end
  for u = 1, 120 do
    for _ = 1, 3 + rand(22) do f:write(u, " ", 1 + rand(80), "\n") end
  end
  f:close()
end

local common = "data=" .. data .. " max_len=12 dim=16 batch=16 steps_per_epoch=4 eval_users=60 n_neg=20 eval_every=2"

local function run(out, extra)
  local log = out .. ".log"
  local cmd = string.format("%q ../../recipes/sasrec_paper.lua %s out=%s %s > %s 2>&1", arg[-1], common, out,
    extra or "", log)
  local ok = os.execute(cmd)
  local lf = io.open(log)
  local text = lf and lf:read("a") or ""
  if lf then lf:close() end
  return ok, text
end

local function records(out)
  local list = {}
  local f = io.open(out .. "/metrics.jsonl")
  if not f then return list end
  for line in f:lines() do
    local rec = cjson.decode(line)
    rec.seconds = nil
    list[#list + 1] = rec
  end
  f:close()
  return list
end

local read = require("recx.util.fs").read

-- Exact comparison of two records lists; returns the first difference or nil.
local function diff(a, b, where)
  if type(a) ~= type(b) then return where .. ": " .. tostring(a) .. " vs " .. tostring(b) end
  if type(a) ~= "table" then
    if a ~= b then return string.format("%s: %.17g vs %.17g", where, a, b) end
    return nil
  end
  for k, v in pairs(a) do
    local d = diff(v, b[k], where .. "." .. tostring(k))
    if d then return d end
  end
  for k in pairs(b) do if a[k] == nil then return where .. "." .. tostring(k) .. " missing" end end
  return nil
end

-- The first tensor that differs between two safetensors files (every element compared; the JSON
-- metadata is left out: cjson writes keys in hash order, which differs between processes), or nil.
local function tensors_diff(pa, pb)
  local a, b = recx.safetensors.load(pa), recx.safetensors.load(pb)
  for name, t in pairs(a) do
    local u = b[name]
    if not u then return name .. " missing" end
    if table.concat(t:shape(), "x") ~= table.concat(u:shape(), "x") or not t:eq(u):all():item() then return name end
  end
  for name in pairs(b) do if not a[name] then return name .. " extra" end end
  return nil
end

T.case("4 epochs straight == 2 epochs + resume + 2 epochs, exactly", function()
  local ok, text = run(dir .. "/straight", "epochs=4")
  if not T.ok(ok, "the straight run ran") then io.stderr:write(text); return end
  ok, text = run(dir .. "/split", "epochs=2")
  if not T.ok(ok, "the first half ran") then io.stderr:write(text); return end
  T.eq(#records(dir .. "/split"), 3, "2 train records + 1 evaluation after the first half")
  T.ok(read(dir .. "/split/ckpt.safetensors") ~= nil, "the checkpoint exists")
  ok, text = run(dir .. "/split", "epochs=4 resume=true")
  if not T.ok(ok, "the resumed run ran") then io.stderr:write(text); return end
  T.ok(text:find("resuming from", 1, true) ~= nil, "it says it resumed")
  local a, b = records(dir .. "/straight"), records(dir .. "/split")
  T.eq(#a, 6, "4 train + 2 eval records")
  T.eq(#b, 6, "the same records after resuming")
  T.eq(diff(a, b, "records"), nil, "every record equal")
  local kinds = {}
  for _, r in ipairs(b) do kinds[#kinds + 1] = r.kind .. math.tointeger(r.epoch) end
  T.eq(kinds, {"train1", "train2", "eval2", "train3", "train4", "eval4"})
  T.ok(a[6].test["hit@10"] > 0 and a[6].test["hit@10"] <= 1, "a metric in range: " .. a[6].test["hit@10"])
  T.ok(a[1].loss > a[5].loss, string.format("the loss falls: %.4f -> %.4f", a[1].loss, a[5].loss))
  T.eq(tensors_diff(dir .. "/straight/model.safetensors", dir .. "/split/model.safetensors"), nil,
    "the final models are equal, every element")
  local ra = cjson.decode(read(dir .. "/straight/result.json"))
  local rb = cjson.decode(read(dir .. "/split/result.json"))
  T.eq(rb.epochs_run, 4)
  T.eq(diff(ra.last, rb.last, "last"), nil, "result.json: the last evaluation")
  T.eq(diff(ra.best_valid, rb.best_valid, "best"), nil, "result.json: the best-validation evaluation")
end)

T.case("resume on a finished run changes nothing; another setting is refused", function()
  local before = records(dir .. "/split")
  local ok, text = run(dir .. "/split", "epochs=4 resume=true")
  if not T.ok(ok, "ran") then io.stderr:write(text); return end
  local after = records(dir .. "/split")
  T.eq(#after, 6)
  T.eq(diff(before, after, "records"), nil, "metrics.jsonl keeps the same records")
  ok, text = run(dir .. "/split", "epochs=4 resume=true layers=1")
  T.ok(not ok, "a different model setting fails")
  T.ok(text:find("layers=2 there, 1 now", 1, true) ~= nil, "the message names the setting: " .. text:sub(1, 300))
end)

T.case("an evaluation does not depend on the earlier ones", function()
  local ok, text = run(dir .. "/every", "epochs=2 eval_every=1")
  if not T.ok(ok, "ran") then io.stderr:write(text); return end
  local a, b = records(dir .. "/every"), records(dir .. "/straight")
  T.eq(a[4].kind .. math.tointeger(a[4].epoch), "eval2")
  T.eq(diff(a[4], b[3], "eval2"), nil, "epoch 2's evaluation equals the straight run's")
end)

os.execute("rm -rf " .. dir)
T.done()
