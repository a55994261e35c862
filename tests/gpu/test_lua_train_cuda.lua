-- test_lua_train_cuda.lua — the same Lua model trained on the CPU and on CUDA.
--
-- The tiny Llama-shaped LM of recx.models.tiny_lm, built once from a seed, is copied to CUDA with
-- Module:to("cuda"); both copies take 10 AdamW steps on the same batches in f32: the loss curves
-- must agree within 1e-4 (relative), which exercises every fused op's forward and backward, the
-- optimizer and the Lua module layer on the GPU. A bf16 copy on CUDA must also learn (its loss
-- after 30 steps below 70% of the first). Exits 77 (skipped) without a CUDA device.
local recx = require "recx"
local C = require "cuda_util"
C.require_device()
local T = require "harness"
local tensor = recx.tensor
local TinyLM = require "recx.models.tiny_lm"

local cfg = {vocab = 64, dim = 64, layers = 2, heads = 4, kv_heads = 2, hidden = 128, seed = 7}

-- Batches of arithmetic progressions mod vocab (the same for every run).
local function batch(step)
  local g = tensor.generator(1000 + step)
  local start = tensor.randint(0, cfg.vocab, {8, 1}, {generator = g})
  local stride = tensor.randint(1, 5, {8, 1}, {generator = g})
  local pos = tensor.arange(17):view(1, 17)
  local seq = (start + stride * pos) % cfg.vocab
  return seq:narrow(2, 1, 16):contiguous(), seq:narrow(2, 2, 16):contiguous()
end

local function train(device, dtype, steps)
  local lm = TinyLM(cfg)
  if dtype ~= "f32" then lm:to(dtype) end
  if device ~= "cpu" then lm:to(device) end
  local opt = recx.optim.adamw(lm:parameters(), {lr = 3e-3, weight_decay = 0.01})
  local losses = {}
  for step = 1, steps do
    local x, y = batch(step)
    local loss = lm:loss(x:to(device), y:to(device))
    loss:backward()
    opt:step()
    opt:zero_grad()
    losses[step] = loss:to("cpu"):to("f64"):item()
  end
  return losses
end

T.case("f32 training on CUDA follows the CPU loss curve", function()
  local cpu = train("cpu", "f32", 10)
  local gpu = train("cuda", "f32", 10)
  for i = 1, 10 do
    T.near(gpu[i], cpu[i], 1e-4, string.format("step %d (cpu %.7f, cuda %.7f)", i, cpu[i], gpu[i]))
  end
end)

T.case("bf16 training on CUDA learns", function()
  local l = train("cuda", "bf16", 30)
  T.ok(l[30] < 0.7 * l[1], string.format("loss %.4f -> %.4f", l[1], l[30]))
end)

T.done()
