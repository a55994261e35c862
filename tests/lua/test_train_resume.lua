-- test_train_resume.lua — acceptance (3): N training steps straight give bit-identical losses to
-- N/2 steps + checkpoint + fresh model / optimizer / scheduler / generators + resume + N/2
-- steps, both in this process and in a fresh recx process. Losses are compared with == (their
-- exact bits; the child prints them as hex floats).
--
-- The run exercises every piece of state: parameters (tiny LM with embedding dropout), AdamW
-- moments and step counts, a warmup + linear decay schedule, clipping, and two generators (data
-- sampling and dropout masks).
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local checkpoint = recx.checkpoint
local TinyLM = require "recx.models.tiny_lm"

local N, V, Tn = 16, 16, 12

local function setup()
  local lm = TinyLM({vocab = V, dim = 16, layers = 2, heads = 2, kv_heads = 1, hidden = 32, seed = 3, dropout = 0.1})
  local opt = recx.optim.adamw(recx.optim.param_groups(lm, {weight_decay = 0.1}), {lr = 5e-3})
  local sched = recx.optim.schedules.linear(opt, {warmup_steps = 3, total_steps = N})
  local data = tensor.generator(11)
  return {lm = lm, opt = opt, sched = sched, data = data, rng = {data = data, dropout = lm.model.drop.generator}}
end

local function train(s, steps)
  local losses = {}
  for _ = 1, steps do
    local start = tensor.randint(0, V, {8, 1}, {generator = s.data})
    local stride = tensor.randint(1, 4, {8, 1}, {generator = s.data})
    local seq = (start + stride * tensor.arange(Tn + 1):view(1, Tn + 1)) % V
    local loss <close> = s.lm:loss(seq:narrow(2, 1, Tn), seq:narrow(2, 2, Tn))
    losses[#losses + 1] = loss:item()
    loss:backward()
    recx.optim.clip_grad_norm(s.opt:params(), 0.5)
    s.opt:step()
    s.sched:step()
    s.opt:zero_grad()
  end
  return losses
end

-- The child: `recx test_train_resume.lua --child <checkpoint>` resumes into fresh objects and
-- prints the losses of the remaining steps as hex floats.
if arg[1] == "--child" then
  local s = setup()
  checkpoint.resume(arg[2], {model = s.lm, optimizer = s.opt, scheduler = s.sched, rng = s.rng})
  for _, l in ipairs(train(s, N - N // 2)) do io.write(string.format("%a\n", l)) end
  os.exit(0)
end

local dir = os.tmpname()
os.remove(dir)
assert(os.execute("mkdir -p " .. dir))
local path = dir .. "/half.safetensors"

local straight = train(setup(), N)

T.case("losses fall and every step differs (the test can tell runs apart)", function()
  T.ok(straight[N] < straight[1], string.format("%.4f -> %.4f", straight[1], straight[N]))
  T.ok(straight[2] ~= straight[3], "distinct losses")
end)

T.case("N/2 + save + fresh objects + resume + N/2 == N straight (same process)", function()
  local a = setup()
  local first = train(a, N // 2)
  checkpoint.save(path, {model = a.lm, optimizer = a.opt, scheduler = a.sched, step = N // 2, rng = a.rng,
    config = {N = N, note = "#not a tag"}, extra = {losses = first}})
  local b = setup() -- fresh, differently advanced objects would do too: everything is restored
  train(b, 1)
  local step, ck = checkpoint.resume(path, {model = b.lm, optimizer = b.opt, scheduler = b.sched, rng = b.rng})
  T.eq(step, N // 2)
  T.eq(ck.config, {N = N, note = "#not a tag"})
  T.eq(ck.extra.losses, first, "extra round-trips exactly")
  local rest = train(b, N - N // 2)
  for i = 1, N do
    local got = i <= N // 2 and first[i] or rest[i - N // 2]
    T.ok(got == straight[i], string.format("step %d: %a == %a", i, got, straight[i]))
  end
end)

T.case("resume in a fresh recx process gives the same losses", function()
  local p = assert(io.popen(string.format("%q %q --child %q", arg[-1], arg[0], path)))
  local out = p:read("a")
  local ok = p:close()
  T.ok(ok, "the child ran: " .. out)
  local i = N // 2
  for line in out:gmatch("[^\n]+") do
    i = i + 1
    local v = tonumber(line)
    T.ok(v == straight[i], string.format("step %d: %s == %a", i, line, straight[i]))
  end
  T.eq(i, N, "the child reported every remaining step")
end)

os.execute("rm -rf " .. dir)
T.done()
