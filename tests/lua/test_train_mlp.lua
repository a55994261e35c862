-- test_train_mlp.lua — acceptance (1): a 2-layer MLP learns synthetic tasks end to end (forward,
-- tape, backward, AdamW) with a stated bound after a stated number of steps, measured on
-- held-out data drawn from the same distribution.
--   XOR-like: label = (x1 * x2 > 0) for x uniform in [-1, 1]^2; after 300 steps of batch 128 the
--   held-out BCE is < 0.15 and the accuracy > 95% (a linear model cannot beat ~0.69 / 50-75%).
--   Teacher regression: a fixed random tanh MLP (8 -> 16 -> 1); after 300 steps of batch 64 the
--   student's held-out MSE is < 5% of the targets' mean square (it starts near 100%).
local T = require "harness"
local recx = require "recx"
local tensor, nn, F = recx.tensor, recx.nn, recx.nn.functional

T.case("XOR-like classification: BCE < 0.15 and accuracy > 95% after 300 steps", function()
  local g = tensor.generator(3)
  local m = nn.MLP(2, 32, 1, {activation = "tanh", generator = g})
  local opt = recx.optim.adamw(m:parameters(), {lr = 0.02, weight_decay = 0})
  local function batch(n)
    local x = tensor.rand({n, 2}, {generator = g}) * 2 - 1
    local y = (x:select(2, 1) * x:select(2, 2)):gt(0):to("f32"):view(n, 1)
    return x, y
  end
  local xe, ye = batch(1000)
  local first
  for step = 1, 300 do
    local x, y = batch(128)
    local loss <close> = F.bce_with_logits(m(x), y)
    first = first or loss:item()
    loss:backward()
    opt:step()
    opt:zero_grad()
  end
  local loss, acc = recx.no_grad(function()
    local logits = m(xe)
    return F.bce_with_logits(logits, ye):item(), logits:gt(0):to("f32"):eq(ye):to("f32"):mean():item()
  end)
  T.ok(first > 0.6, "starts untrained: " .. first)
  T.ok(loss < 0.15, string.format("held-out BCE %.4f < 0.15", loss))
  T.ok(acc > 0.95, string.format("held-out accuracy %.3f > 0.95", acc))
end)

T.case("teacher regression: held-out MSE < 5% of the target power after 300 steps", function()
  local g = tensor.generator(5)
  local teacher = nn.MLP(8, 16, 1, {activation = "tanh", generator = tensor.generator(100)}):freeze()
  local student = nn.MLP(8, 32, 1, {activation = "tanh", generator = tensor.generator(101)})
  local opt = recx.optim.adamw(student:parameters(), {lr = 0.01, weight_decay = 0})
  local xe = tensor.randn({1000, 8}, {generator = g})
  local ye = teacher(xe)
  local power = ye:square():mean():item()
  local function eval() return recx.no_grad(function() return F.mse(student(xe), ye):item() end) end
  local before = eval()
  for _ = 1, 300 do
    local x = tensor.randn({64, 8}, {generator = g})
    local loss <close> = F.mse(student(x), teacher(x))
    loss:backward()
    opt:step()
    opt:zero_grad()
  end
  local after = eval()
  print(string.format("  loss before %.4f after %.4f", before, after))
  T.ok(before > 0.5 * power, string.format("starts far: %.4g vs power %.4g", before, power))
  T.ok(after < 0.05 * power, string.format("held-out MSE %.3g < 5%% of %.3g", after, power))
  T.eq(teacher.fc1.weight:grad(), nil, "the frozen teacher got no gradient")
end)

T.done()
