-- test_clip_async.lua — gradient clipping with the norm kept as a tensor (clip_grad_norm's
-- as_tensor option, core.optim.clip_grad_norm_) and the training loop of
-- recipes/train_recommender.lua, which reads the device only every 25 steps.
--
-- Owns:
--   * clip_grad_norm(params, max_norm, {as_tensor = true}) against a double-precision norm
--     computed here from the gradients' values: a 0-d f32 tensor; gradients scaled by
--     max_norm / (norm + 1e-6) (f32 math) above the bound and untouched below it or when the
--     norm is inf or NaN; the same bits as the number form on the CPU; no gradients give a zero
--     tensor; argument errors
--   * the recipe (SASRec, 1 epoch, 14 steps of batch 64 on synthetic data, CPU) against a hand
--     loop of the per-step-sync form (loss:item() each step, the number clip): the trained
--     parameters are bitwise equal and the reported epoch loss is exactly the host sum's mean;
--     a NaN loss (lr = inf) fails naming the steps it came from
local T = require "harness"
local recx = require "recx"
local cjson = require "cjson"
local tensor = recx.tensor
local optim = recx.optim
local core = require "recx.core"
local synthetic = require "recx.data.synthetic"
local batches = require "recx.rec.batches"
local model_file = require "recx.rec.model_file"
local SASRec = require "recx.models.sasrec"

recx.num_threads(1)

local function flat(t)
  local v = t:to("f64"):reshape(-1):tolist()
  return v
end

-- Parameters a, b (f32 and bf16) with gradients ga, gb; returns them.
local function params_with_grads(ga, gb)
  local a = tensor.from({0, 0, 0, 0}, {dtype = "f32"}):requires_grad(true)
  local b = tensor.from({{0, 0}, {0, 0}}, {dtype = "bf16"}):requires_grad(true)
  local wa = tensor.from(ga, {dtype = "f32"})
  local wb = tensor.from(gb, {dtype = "bf16"})
  ;(a * wa):sum():backward()
  ;(b * wb):sum():backward()
  return a, b
end

local GA, GB = {3.0, -4.0, 0.5, 12.0}, {{-1.5, 2.0}, {0.25, 7.0}}

-- The double reference: the norm of the stored gradient values.
local function ref_norm(a, b)
  local s = 0.0
  for _, p in ipairs({a, b}) do
    for _, x in ipairs(flat(p:grad())) do s = s + x * x end
  end
  return math.sqrt(s)
end

-- x rounded to f32 / bf16 (nearest even), for the reference of the scaled values.
local function f32(x) return string.unpack("f", string.pack("f", x)) end
local function bf16(x)
  local bits = string.unpack("<I4", string.pack("<f", f32(x)))
  local lsb = (bits >> 16) & 1
  bits = ((bits + 0x7fff + lsb) >> 16) << 16
  return string.unpack("<f", string.pack("<I4", bits))
end

T.case("as_tensor: the norm as a 0-d f32 tensor, gradients scaled above max_norm", function()
  local a, b = params_with_grads(GA, GB)
  local ref = ref_norm(a, b)
  local before_a, before_b = flat(a:grad()), flat(b:grad())
  local max_norm = 5.0
  local n = optim.clip_grad_norm({a, b}, max_norm, {as_tensor = true})
  T.ok(tensor.is_tensor(n), "a tensor")
  T.eq(n:shape(), {}, "0-d")
  T.eq(n:dtype(), "f32")
  T.eq(n:device(), "cpu")
  T.near(n:item(), ref, 1e-6 * ref, "the global norm")
  local c = f32(f32(max_norm / (ref + 1e-6)))
  local want_a, want_b = {}, {}
  for i, x in ipairs(before_a) do want_a[i] = f32(x * c) end
  for i, x in ipairs(before_b) do want_b[i] = bf16(x * c) end
  T.eq(flat(a:grad()), want_a, "f32 gradients scaled")
  T.eq(flat(b:grad()), want_b, "bf16 gradients scaled")
  local again = optim.clip_grad_norm({a, b}, max_norm, {as_tensor = true})
  T.near(again:item(), max_norm, 1e-2, "the new norm is max_norm (bf16 rounding)")
end)

T.case("as_tensor: below max_norm and non-finite norms leave the gradients alone", function()
  local a, b = params_with_grads(GA, GB)
  local ref = ref_norm(a, b)
  local before_a, before_b = flat(a:grad()), flat(b:grad())
  local n = optim.clip_grad_norm({a, b}, ref * 2, {as_tensor = true})
  T.near(n:item(), ref, 1e-6 * ref)
  T.eq(flat(a:grad()), before_a)
  T.eq(flat(b:grad()), before_b)
  for _, bad in ipairs({math.huge, 0 / 0}) do
    local x, y = params_with_grads({1, bad, 2, 3}, GB)
    local yb = flat(y:grad())
    local m = optim.clip_grad_norm({x, y}, 1.0, {as_tensor = true})
    local v = m:item()
    if bad == bad then T.eq(v, math.huge, "inf norm") else T.ok(v ~= v, "NaN norm") end
    local xg = flat(x:grad())
    T.eq({xg[1], xg[3], xg[4]}, {1, 2, 3}, "finite entries untouched")
    T.eq(flat(y:grad()), yb, "other tensor untouched")
  end
end)

T.case("as_tensor gives the number form's bits; no gradients give a zero tensor", function()
  local a1, b1 = params_with_grads(GA, GB)
  local a2, b2 = params_with_grads(GA, GB)
  local num = optim.clip_grad_norm({a1, b1}, 2.5)
  local t = optim.clip_grad_norm({a2, b2}, 2.5, {as_tensor = true})
  T.eq(t:item(), f32(num), "the norm, rounded to f32")
  T.eq(flat(a2:grad()), flat(a1:grad()), "f32 gradients, bitwise")
  T.eq(flat(b2:grad()), flat(b1:grad()), "bf16 gradients, bitwise")
  local p = tensor.zeros({3}):requires_grad(true)
  local z = optim.clip_grad_norm({p}, 1.0, {as_tensor = true})
  T.ok(tensor.is_tensor(z) and z:item() == 0 and z:device() == "cpu", "zero tensor without gradients")
  T.eq(optim.clip_grad_norm({p}, 1.0), 0.0, "number form unchanged")
end)

T.case("errors", function()
  local a = params_with_grads(GA, GB)
  T.raises("clip_grad_norm: argument #3: expected an options table {as_tensor = true}, got string",
    optim.clip_grad_norm, {a}, 1.0, "x")
  T.raises("clip_grad_norm: unknown option 'as_number' (expected as_tensor)", optim.clip_grad_norm, {a}, 1.0,
    {as_number = true})
  T.raises("clip_grad_norm: argument #2: expected a positive max_norm, got ", optim.clip_grad_norm, {a}, 0 / 0,
    {as_tensor = true})
  T.raises("expected a positive max_norm, got 0", optim.clip_grad_norm, {a}, 0, {as_tensor = true})
  local C = core.optim
  T.raises("clip_grad_norm_: argument #1: expected a list of tensors (tensors), got string", C.clip_grad_norm_, "x", 1)
  T.raises("clip_grad_norm_: argument #2: expected a number", C.clip_grad_norm_, {a:grad()})
  T.raises("clip_grad_norm_: argument #3: expected max_norm > 0, got -1", C.clip_grad_norm_, {a:grad()}, -1)
  T.raises("(tensors[0]): expected a floating-point tensor", C.clip_grad_norm_,
    {tensor.from({1, 2}, {dtype = "i64"})}, 1)
  T.raises("is an expanded view", C.clip_grad_norm_, {tensor.from({1.0}):expand({4})}, 1)
end)

-- ---- the recipe against the per-step-sync loop --------------------------------------------------

local fs = require "recx.util.fs"
local dir = os.tmpname()
os.remove(dir)
assert(fs.mkdir_p(dir))

-- The lines of a file (none when it is missing).
local function read_lines(path)
  local out = {}
  for l in ((fs.read(path)) or ""):gmatch("[^\n]+") do out[#out + 1] = l end
  return out
end

local recx_bin = arg[-1]
local function run(args)
  local cmd = string.format("%q ../../recipes/train_recommender.lua %s > %q 2>&1", recx_bin, args, dir .. "/log.txt")
  return os.execute(cmd)
end

local CFG = {dim = 16, heads = 2, inner = 32, batch = 64, lr = 0.003, clip = 0.5, seed = 5, layers = 2, max_len = 9}

-- One epoch as the recipe ran it before, reading the loss and the norm every step.
local function hand_loop(data_dir)
  local seqs, _, n_items = batches.read_sequences(data_dir .. "/sequential_data.txt")
  local data = batches.leave_one_out(seqs, CFG.max_len)
  local model = SASRec.build({n_items = n_items, dim = CFG.dim, layers = CFG.layers, heads = CFG.heads,
    inner = CFG.inner, max_len = CFG.max_len, eps = 1e-10, hidden_dropout = 0.4954053313841075,
    attn_dropout = 0.1871672079253271, seed = CFG.seed})
  local opt = optim.adamw(model:parameters(), {lr = CFG.lr, weight_decay = 0})
  local g = tensor.generator(CFG.seed + 7)
  local N = data.train.n
  model:train()
  local _, perm = tensor.rand(N, {generator = g}):sort()
  local total, count, steps = 0.0, 0, 0
  for first = 1, N, CFG.batch do
    local b = math.min(CFG.batch, N - first + 1)
    local idx = perm:narrow(1, first, b)
    local loss <close> = model:loss(data.train.hist:index_select(1, idx), data.train.items:index_select(1, idx))
    local v = loss:item()
    loss:backward()
    optim.clip_grad_norm(opt:params(), CFG.clip)
    opt:step()
    opt:zero_grad()
    total, count, steps = total + v * b, count + b, steps + 1
  end
  return model, total / count, steps
end

T.case("train_recommender: the device-side loss sum and clip equal the per-step-sync loop", function()
  local data = synthetic.generate{seed = 4, n_users = 400, n_items = 60, min_len = 5, max_len = 9}
  synthetic.write(data, dir .. "/syn")
  local args = string.format("model=sasrec data_dir=%s/syn out_dir=%s/run epochs=1 dim=%d heads=%d inner=%d " ..
    "batch=%d lr=%s clip=%s seed=%d", dir, dir, CFG.dim, CFG.heads, CFG.inner, CFG.batch, CFG.lr, CFG.clip, CFG.seed)
  local ok = run(args)
  if not ok then io.stderr:write(table.concat(read_lines(dir .. "/log.txt"), "\n"), "\n") end
  T.ok(ok, "recipe run")
  local model, mean, steps = hand_loop(dir .. "/syn")
  T.ok(steps > 25, string.format("%d steps: more than one read of the loss sum", steps))
  local rec = cjson.decode(read_lines(dir .. "/run/metrics.jsonl")[1] or "{}")
  -- metrics.jsonl keeps 14 significant digits
  T.near(rec.loss, mean, 1e-13 * mean, "epoch loss: the host sum's mean (to JSON's 14 digits)")
  local saved = model_file.load(dir .. "/run/model.safetensors")
  local want = {}
  for _, e in ipairs(model:named_parameters()) do want[e[1]] = e[2] end
  local n, same = 0, 0
  for _, e in ipairs(saved:named_parameters()) do
    n = n + 1
    local w = want[e[1]]
    if w and (e[2] - w):abs():max():item() == 0 and e[2]:shape()[1] == w:shape()[1] then same = same + 1 end
  end
  T.ok(n > 10, n .. " parameters")
  T.eq(same, n, "parameters bitwise equal to the hand loop's")
end)

T.case("train_recommender: a NaN loss names the steps it came from", function()
  local ok = run(string.format("model=sasrec data_dir=%s/syn out_dir=%s/nan epochs=1 dim=16 heads=2 inner=32 " ..
    "batch=64 lr=1e300 clip=1e300", dir, dir))
  T.ok(not ok, "the run fails")
  local log = table.concat(read_lines(dir .. "/log.txt"), "\n")
  local a, b = log:match("the training loss became NaN between steps (%d+) and (%d+) of epoch 1; try a lower lr")
  T.ok(a ~= nil, "message: " .. log:sub(1, 300))
  T.ok(a and (tonumber(a) - 1) % 25 == 0 and tonumber(b) > tonumber(a) and tonumber(b) - tonumber(a) <= 24,
    "the steps since the last read (" .. tostring(a) .. ".." .. tostring(b) .. ")")
end)

os.execute("rm -rf " .. dir)
T.done()
