-- test_train_memory.lua — acceptance (4): 200 training steps of a tiny model leak nothing.
--
-- Rule: after a warm-up of 20 steps (optimizer state and cached rotary tables exist by then),
-- we run a full collection (collectgarbage("collect") twice, so that finalizers that free other
-- userdata run too) after every 20th step and read recx.mem(): live_bytes and live_tensors
-- (and live_storages) must be exactly the values measured after step 20. Between checks the
-- loop relies on Lua's collector and `<close>` as a training loop would; nothing else frees.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local TinyLM = require "recx.models.tiny_lm"

local function snapshot()
  collectgarbage("collect")
  collectgarbage("collect")
  local m = recx.mem()
  return {m.live_bytes, m.live_tensors, m.live_storages}
end

T.case("200 steps: live bytes and tensors constant after warm-up", function()
  local V, Tn = 16, 12
  local lm = TinyLM({vocab = V, dim = 16, layers = 2, heads = 2, kv_heads = 1, hidden = 32, seed = 5, dropout = 0.1})
  local opt = recx.optim.adamw(recx.optim.param_groups(lm), {lr = 3e-3})
  local sched = recx.optim.schedules.cosine(opt, {warmup_steps = 5, total_steps = 200})
  local g = tensor.generator(1)
  local base, first_loss, last_loss
  for step = 1, 200 do
    local start = tensor.randint(0, V, {8, 1}, {generator = g})
    local stride = tensor.randint(1, 4, {8, 1}, {generator = g})
    local seq = (start + stride * tensor.arange(Tn + 1):view(1, Tn + 1)) % V
    local loss <close> = lm:loss(seq:narrow(2, 1, Tn), seq:narrow(2, 2, Tn))
    last_loss = loss:item()
    first_loss = first_loss or last_loss
    loss:backward()
    recx.optim.clip_grad_norm(opt:params(), 1.0)
    opt:step()
    sched:step()
    opt:zero_grad()
    if step % 20 == 0 then
      local now = snapshot()
      if step == 20 then
        base = now
        T.ok(now[1] > 0 and now[2] > 0, "something is live (parameters, optimizer state)")
      else
        T.eq(now, base, "step " .. step .. ": {live_bytes, live_tensors, live_storages}")
      end
    end
  end
  T.ok(last_loss < first_loss, "it trained")
  -- dropping everything frees everything this test made
  lm, opt, sched = nil, nil, nil
  local after = snapshot()
  T.ok(after[1] < base[1] and after[2] < base[2], "releasing the model and optimizer frees their memory")
end)

T.done()
