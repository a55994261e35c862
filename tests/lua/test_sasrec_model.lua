-- test_sasrec_model.lua — recx.models.sasrec (SPEC 3.1 as nn modules) against the PyTorch fixture.
--
-- Owns: loading tests/fixtures/sasrec_block.safetensors into the module with a strict
-- load_state_dict, then in eval mode: user vectors, scores (rel L2 <= 1e-5) and the loss
-- (relative 1e-5) against PyTorch, and every parameter's gradient against the fixture's grad.*
-- (rel L2 <= 1e-4 with a floor of 1e-3, as test_fixture_sasrec.lua: the key biases' gradients
-- are rounding noise). Then: train mode differs from eval and replays for one generator seed,
-- the default init's statistics (std ~0.02, biases 0, LayerNorm 1/0, padding row 0), and the
-- argument errors. Errors are computed in Lua doubles (tests/lua/fixture.lua), not with recx ops.
-- Skips (exit 0, reason on stdout) only when the fixture is missing.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local fixture = require "fixture"
local SASRec = require "recx.models.sasrec"
local check_close, flatten, rel_l2 = fixture.check_close, fixture.flatten, fixture.rel_l2

recx.num_threads(2)

local CFG = {n_items = 21, dim = 16, layers = 2, heads = 2, inner = 32, max_len = 6, seed = 7}

local fx, file = fixture.load("test_sasrec_model", "../fixtures/sasrec_block.safetensors")
local _ <close> = file

local function loaded()
  local m = SASRec(CFG)
  local sd = {}
  for name in pairs(m:state_dict()) do sd[name] = fx[name] end
  m:load_state_dict(sd) -- strict: every name must exist in the fixture
  return m
end

T.case("the module's parameter names are the fixture's", function()
  local m = SASRec(CFG)
  local n = 0
  for _, e in ipairs(m:named_parameters()) do
    n = n + 1
    T.ok(fx[e[1]] ~= nil and fx["grad." .. e[1]] ~= nil, "in the fixture: " .. e[1])
  end
  T.eq(n, 4 + CFG.layers * 16, "parameter count")
  T.raises("missing keys", function() m:load_state_dict({["item_embedding.weight"] = fx["item_embedding.weight"]}) end)
end)

T.case("eval forward: user vectors, scores and loss match PyTorch", function()
  local m = loaded():eval()
  check_close("user_vectors", m:user_embedding(fx.item_seq), fx.user_vectors, 1e-5)
  check_close("scores", m:scores(fx.item_seq), fx.scores, 1e-5)
  local got, want = m:loss(fx.item_seq, fx.pos_items):item(), fx.loss:item()
  T.ok(math.abs(got - want) <= 1e-5 * math.abs(want), string.format("loss: got %.9g, want %.9g", got, want))
  -- the loss written out from the fixture's scores in Lua doubles
  local s, pos, total = fx.scores:tolist(), fx.pos_items:tolist(), 0.0
  for b = 1, #s do
    local mx = -math.huge
    for j = 1, #s[b] do mx = math.max(mx, s[b][j]) end
    local z = 0.0
    for j = 1, #s[b] do z = z + math.exp(s[b][j] - mx) end
    total = total + (mx + math.log(z) - s[b][pos[b] + 1])
  end
  T.near(got, total / #s, 1e-5 * math.abs(want), "loss = mean(logsumexp - target score)")
end)

T.case("eval backward: every parameter's gradient matches PyTorch", function()
  local m = loaded():eval()
  m:loss(fx.item_seq, fx.pos_items):backward()
  local worst, worst_name = 0, "-"
  for _, e in ipairs(m:named_parameters()) do
    local g = e[2]:grad()
    if T.ok(g ~= nil, "no gradient for " .. e[1]) then
      local err = check_close("grad." .. e[1], g, fx["grad." .. e[1]], 1e-4, 1e-3)
      if err > worst then worst, worst_name = err, e[1] end
    end
  end
  print(string.format("  worst gradient error %.3g (%s)", worst, worst_name))
end)

T.case("train mode: dropout is on, and replays for a fixed generator seed", function()
  local m = loaded()
  T.ok(m:is_training(), "a new module trains")
  local eval_u = m:eval():user_embedding(fx.item_seq)
  m:train()
  m.generator:seed(123)
  local a = m:user_embedding(fx.item_seq)
  local la = m:loss(fx.item_seq, fx.pos_items):item()
  T.ok(rel_l2(a, eval_u) > 1e-2, string.format("train differs from eval (rel %.3g)", rel_l2(a, eval_u)))
  local b = m:user_embedding(fx.item_seq)
  T.ok(rel_l2(b, a) > 1e-2, "a second draw differs")
  m.generator:seed(123)
  T.eq(m:user_embedding(fx.item_seq):tolist(), a:tolist(), "same seed: same user vectors")
  T.eq(m:loss(fx.item_seq, fx.pos_items):item(), la, "same seed: same loss")
  -- back in eval mode the generator is not used and the output is the eval output again
  T.eq(m:eval():user_embedding(fx.item_seq):tolist(), eval_u:tolist(), "eval again: deterministic")
  -- attention dropout alone (hidden dropout 0) also changes the output in train mode
  local cfg = {}
  for k, v in pairs(CFG) do cfg[k] = v end
  cfg.hidden_dropout = 0
  local m2 = SASRec(cfg)
  local u2 = m2:eval():user_embedding(fx.item_seq)
  m2:train()
  T.ok(rel_l2(m2:user_embedding(fx.item_seq), u2) > 1e-4, "attention dropout acts in train mode")
end)

T.case("default init: N(0, 0.02), biases 0, LayerNorm 1/0, padding row 0, seeded", function()
  local m = SASRec({n_items = 300, seed = 3})
  T.eq(m.item_embedding.weight:shape(), {300, 256})
  T.eq(m.position_embedding.weight:shape(), {10, 256})
  T.eq(m.layers[1].ffn.dense1.weight:shape(), {512, 256})
  T.eq(#m.layers, 2)
  local n = 0
  for _, e in ipairs(m:named_parameters()) do
    local name, v = e[1], flatten(e[2]:tolist())
    if name:find("layernorm") then
      local want = name:sub(-7) == ".weight" and 1.0 or 0.0
      local bad = 0
      for _, x in ipairs(v) do if x ~= want then bad = bad + 1 end end
      T.eq(bad, 0, name .. " is constant " .. want)
    elseif name:sub(-5) == ".bias" then
      local bad = 0
      for _, x in ipairs(v) do if x ~= 0 then bad = bad + 1 end end
      T.eq(bad, 0, name .. " is zero")
    else
      if name == "item_embedding.weight" then v = {table.unpack(v, 257)} end -- row 0 is the pad
      local s, s2 = 0.0, 0.0
      for _, x in ipairs(v) do s, s2 = s + x, s2 + x * x end
      local mean = s / #v
      local std = math.sqrt(s2 / #v - mean * mean)
      T.ok(math.abs(mean) < 0.002 and math.abs(std - 0.02) < 0.002,
        string.format("%s: mean %.4g, std %.4g", name, mean, std))
      n = n + 1
    end
  end
  T.eq(n, 2 + 2 * 6, "weights drawn")
  local pad = flatten(m.item_embedding.weight:select(1, 1):tolist())
  local nz = 0
  for _, x in ipairs(pad) do if x ~= 0 then nz = nz + 1 end end
  T.eq(nz, 0, "padding row is zero")
  local m2 = SASRec({n_items = 300, seed = 3})
  T.eq(m2.layers[2].attention.key.weight:tolist(), m.layers[2].attention.key.weight:tolist(), "same seed, same init")
  local m3 = SASRec({n_items = 300, seed = 4})
  T.ok(rel_l2(m3.layers[2].attention.key.weight, m.layers[2].attention.key.weight) > 0.5, "other seed, other init")
end)

T.case("errors", function()
  T.raises("n_items", function() SASRec({}) end)
  T.raises("must divide", function() SASRec({n_items = 5, dim = 10, heads = 3}) end)
  local m = SASRec({n_items = 5, dim = 8, heads = 2, inner = 8, max_len = 3})
  T.raises("exceeds max_len", function() m(tensor.zeros({1, 4}, {dtype = "i64"})) end)
end)

T.case("the composed attention (GPU path) equals the fused one, dropout mask included", function()
  local function run(composed)
    SASRec.Attention.composed = composed
    local m = SASRec({n_items = 40, dim = 32, heads = 4, inner = 48, max_len = 9, seed = 11})
    m:train()
    local g = tensor.generator(5)
    local seq = tensor.randint(0, 40, {6, 9}, {generator = g, dtype = "i64"})
    seq:narrow(2, 1, 3):select(1, 1):fill_(0) -- a left-padded row
    local loss = m:loss(seq, tensor.randint(1, 40, {6}, {generator = g, dtype = "i64"}))
    loss:backward()
    SASRec.Attention.composed = nil
    return loss:item(), m.layers[1].attention.query.weight:grad()
  end
  local lf, gf = run(false)
  local lc, gc = run(true)
  T.ok(math.abs(lf - lc) < 1e-5 * math.abs(lf), string.format("loss fused %.8f, composed %.8f", lf, lc))
  T.ok(rel_l2(gf, gc) < 1e-5, "query weight gradient (relative L2 " .. rel_l2(gf, gc) .. ")")
end)

T.done()
