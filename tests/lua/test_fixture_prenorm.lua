-- test_fixture_prenorm.lua — a tiny Llama-style pre-norm LM rebuilt with recx ops against PyTorch.
--
-- Owns: the comparison of recx's forward, backward and AdamW with the reference that
-- tests/fixtures/make_fixtures.py wrote with PyTorch (tests/fixtures/prenorm_block.safetensors;
-- the model is described at the top of that script). The model is written here as plain
-- functions over recx.nn.functional so that every op in the path is visible:
--   embedding -> 2 x [rmsnorm -> q,k,v linear -> rope -> causal GQA attention (H=4, G=2, D=8)
--   -> o linear -> residual -> rmsnorm -> swiglu MLP -> residual] -> rmsnorm -> lm_head
--   -> cross entropy (ignore_index -100).
-- Tolerances (all computed here in plain Lua doubles from :tolist(), not with recx ops):
--   logits: ||got - want||_2 / ||want||_2 <= 1e-5; loss: |got - want| / |want| <= 1e-5;
--   every weight gradient: ||got - want||_2 / max(||want||_2, 1e-3) <= 1e-4 (the floor keeps a
--   gradient that is zero up to rounding from dividing noise by noise);
--   10 AdamW losses: max_i |got_i - want_i| / |want_i| <= 1e-4.
-- The test skips (with the reason on stdout, exit 0) only when the fixture file is missing.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local F = recx.nn.functional
local fixture = require "fixture"
local check_close, flatten = fixture.check_close, fixture.flatten

recx.num_threads(2)

local V, C, LAYERS, H, G, D, HIDDEN = 64, 32, 2, 4, 2, 8, 48
local EPS, THETA, IGNORE = 1e-5, 10000.0, -100

-- ---- the fixture -------------------------------------------------------------------------------

local fx, file = fixture.load("test_fixture_prenorm", "../fixtures/prenorm_block.safetensors") -- ctest runs from tests/lua
local _ <close> = file

local B, TT = fx.input_ids:size(1), fx.input_ids:size(2)

local WEIGHTS = {"model.embed_tokens.weight"}
for i = 0, LAYERS - 1 do
  local pre = "model.layers." .. i .. "."
  for _, n in ipairs({"input_layernorm.weight", "self_attn.q_proj.weight", "self_attn.k_proj.weight",
                      "self_attn.v_proj.weight", "self_attn.o_proj.weight", "post_attention_layernorm.weight",
                      "mlp.gate_proj.weight", "mlp.up_proj.weight", "mlp.down_proj.weight"}) do
    WEIGHTS[#WEIGHTS + 1] = pre .. n
  end
end
WEIGHTS[#WEIGHTS + 1] = "model.norm.weight"
WEIGHTS[#WEIGHTS + 1] = "lm_head.weight"

-- Fresh leaves (copies of the file's values) requiring grad.
local function load_params()
  local p = {}
  for _, name in ipairs(WEIGHTS) do
    p[name] = fx[name]:clone():requires_grad(true)
  end
  return p
end

-- ---- the model ---------------------------------------------------------------------------------

local positions = tensor.arange(0, TT, {dtype = "i64"})
local cos, sin = F.rope_tables(positions, F.rope_inv_freq(D, THETA), "f32") -- (T, D)

local function forward(p, ids)
  local x = F.embedding(p["model.embed_tokens.weight"], ids) -- (B, T, C)
  for i = 0, LAYERS - 1 do
    local pre = "model.layers." .. i .. "."
    local h = F.rmsnorm(x, p[pre .. "input_layernorm.weight"], EPS)
    local q = F.linear(h, p[pre .. "self_attn.q_proj.weight"]):view(B, TT, H, D):transpose(2, 3) -- (B, H, T, D)
    local k = F.linear(h, p[pre .. "self_attn.k_proj.weight"]):view(B, TT, G, D):transpose(2, 3) -- (B, G, T, D)
    local v = F.linear(h, p[pre .. "self_attn.v_proj.weight"]):view(B, TT, G, D):transpose(2, 3)
    q, k = F.rope(q, cos, sin), F.rope(k, cos, sin)
    local a = F.attention(q, k, v, {causal = true}) -- (B, H, T, D)
    a = a:transpose(2, 3):reshape(B, TT, H * D)
    x = x + F.linear(a, p[pre .. "self_attn.o_proj.weight"])
    h = F.rmsnorm(x, p[pre .. "post_attention_layernorm.weight"], EPS)
    local m = F.swiglu(F.linear(h, p[pre .. "mlp.gate_proj.weight"]), F.linear(h, p[pre .. "mlp.up_proj.weight"]))
    x = x + F.linear(m, p[pre .. "mlp.down_proj.weight"])
  end
  x = F.rmsnorm(x, p["model.norm.weight"], EPS)
  return F.linear(x, p["lm_head.weight"]) -- (B, T, V)
end

local function loss_of(logits)
  return F.cross_entropy(logits:view(B * TT, V), fx.targets:view(B * TT), {ignore_index = IGNORE})
end

-- ---- cases --------------------------------------------------------------------------------------

T.case("fixture holds what the test expects", function()
  T.eq(fx.input_ids:shape(), {2, 7})
  T.eq(fx.input_ids:dtype(), "i64")
  T.eq(fx.logits:shape(), {2, 7, V})
  T.eq(fx.loss:shape(), {})
  T.eq(fx.adamw_losses:shape(), {10})
  T.eq(fx["model.layers.1.self_attn.k_proj.weight"]:shape(), {G * D, C})
  T.eq(fx["mlp.gate_proj.weight"], nil)
  T.eq(fx["model.layers.0.mlp.gate_proj.weight"]:shape(), {HIDDEN, C})
  local ignored = 0
  for _, t in ipairs(flatten(fx.targets:tolist())) do
    if t == IGNORE then ignored = ignored + 1 end
  end
  T.eq(ignored, 3, "targets set to -100")
  for _, name in ipairs(WEIGHTS) do
    T.ok(fx[name] ~= nil and fx["grad." .. name] ~= nil, "weight and grad stored: " .. name)
  end
  local cfg = file:metadata("config")
  T.ok(cfg ~= nil and cfg:find('"kv_heads": 2', 1, true) ~= nil, "config metadata names kv_heads 2")
end)

T.case("forward: logits and loss match PyTorch", function()
  local p = load_params()
  local logits = forward(p, fx.input_ids)
  local loss = loss_of(logits)
  check_close("logits", logits, fx.logits, 1e-5)
  local got, want = loss:item(), fx.loss:item()
  T.ok(math.abs(got - want) <= 1e-5 * math.abs(want),
    string.format("loss: got %.9g, want %.9g", got, want))
end)

T.case("backward: every weight gradient matches PyTorch", function()
  local p = load_params()
  local loss = loss_of(forward(p, fx.input_ids))
  loss:backward()
  local worst, worst_name = fixture.check_grads(p, WEIGHTS, fx, 1e-4, 1e-3)
  print(string.format("  worst gradient error %.3g (%s)", worst, worst_name))
end)

T.case("10 AdamW steps: losses match PyTorch", function()
  local p = load_params()
  local worst = fixture.check_adamw_losses(p, WEIGHTS, fx,
    {lr = 1e-2, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0.01},
    function() return loss_of(forward(p, fx.input_ids)) end, 1e-4)
  print(string.format("  worst AdamW loss error %.3g", worst))
end)

T.done()
