-- test_fixture_sasrec.lua — a tiny post-norm SASRec user tower rebuilt with recx ops against PyTorch.
--
-- Owns: the comparison of recx's forward, backward and AdamW with the reference that
-- tests/fixtures/make_fixtures.py wrote with PyTorch (tests/fixtures/sasrec_block.safetensors;
-- the model, UniRec's SASRec of SPEC 3.1 in eval mode, is described at the top of that script).
-- Written here as plain functions over recx.nn.functional:
--   x = layernorm(item_emb[seq] (padding_idx 0) + pos_emb[0..L-1]) (eps 1e-10)
--   2 x [h = layernorm(x + dense(attention(q, k, v, additive mask (1 - m) * -10000)));
--        x = layernorm(h + dense2(silu(dense1(h))))]
--   user = x[:, L-1]; scores = user item_emb^T; loss = mean(logsumexp(scores) - scores[pos])
--   (= cross_entropy(scores, pos_items), the same formula).
-- The additive mask is built here from the item ids (not read from the fixture) and then also
-- compared with the fixture's copy. The batch has one fully padded row: its queries see no key,
-- every score gets -10000 added, and softmax runs over the raw scores (rounded to the f32 grid
-- near -10000, as in PyTorch), so this row checks that rx_attention adds the mask in f32 like
-- PyTorch does.
-- Tolerances (computed here in plain Lua doubles from :tolist(), not with recx ops):
--   user vectors and scores: ||got - want||_2 / ||want||_2 <= 1e-5; loss: relative 1e-5;
--   every weight gradient: ||got - want||_2 / max(||want||_2, 1e-3) <= 1e-4 (the key biases'
--   gradients are zero in exact arithmetic, softmax being shift invariant: both sides hold
--   rounding noise of ~1e-8, which the floor absorbs);
--   10 AdamW losses: max_i |got_i - want_i| / |want_i| <= 1e-4.
-- The test skips (with the reason on stdout, exit 0) only when the fixture file is missing.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local F = recx.nn.functional
local fixture = require "fixture"
local check_close, flatten = fixture.check_close, fixture.flatten

recx.num_threads(2)

local N_ITEMS, C, L, LAYERS, NH, INNER = 21, 16, 6, 2, 2, 32
local HD = C // NH
local EPS, MASK_VALUE, PAD = 1e-10, -10000.0, 0

-- ---- the fixture -------------------------------------------------------------------------------

local fx, file = fixture.load("test_fixture_sasrec", "../fixtures/sasrec_block.safetensors") -- ctest runs from tests/lua
local _ <close> = file

local B = fx.item_seq:size(1)

local WEIGHTS = {"item_embedding.weight", "position_embedding.weight", "emb_layernorm.weight", "emb_layernorm.bias"}
for i = 0, LAYERS - 1 do
  local pre = "layers." .. i .. "."
  for _, n in ipairs({"attention.query", "attention.key", "attention.value", "attention.dense",
                      "attention.layernorm", "ffn.dense1", "ffn.dense2", "ffn.layernorm"}) do
    WEIGHTS[#WEIGHTS + 1] = pre .. n .. ".weight"
    WEIGHTS[#WEIGHTS + 1] = pre .. n .. ".bias"
  end
end

local function load_params()
  local p = {}
  for _, name in ipairs(WEIGHTS) do
    p[name] = fx[name]:clone():requires_grad(true)
  end
  return p
end

-- (B, 1, L, L) additive mask from the ids: 0 where key s is not padding and s <= query t.
local function additive_mask(seq)
  local ids = seq:tolist()
  local rows = {}
  for b = 1, #ids do
    local q = {}
    for t = 1, L do
      local r = {}
      for s = 1, L do
        r[s] = (ids[b][s] ~= PAD and s <= t) and 0.0 or MASK_VALUE
      end
      q[t] = r
    end
    rows[b] = {q}
  end
  return tensor.from(rows)
end

-- ---- the model ---------------------------------------------------------------------------------

local positions = tensor.arange(0, L, {dtype = "i64"})

local function forward(p, seq)
  local mask = additive_mask(seq)
  local x = F.embedding(p["item_embedding.weight"], seq, PAD) + F.embedding(p["position_embedding.weight"], positions)
  x = F.layernorm(x, p["emb_layernorm.weight"], p["emb_layernorm.bias"], EPS) -- (B, L, C)
  local function lin(t, name) return F.linear(t, p[name .. ".weight"], p[name .. ".bias"]) end
  for i = 0, LAYERS - 1 do
    local pre = "layers." .. i .. "."
    local q = lin(x, pre .. "attention.query"):view(B, L, NH, HD):transpose(2, 3) -- (B, NH, L, HD)
    local k = lin(x, pre .. "attention.key"):view(B, L, NH, HD):transpose(2, 3)
    local v = lin(x, pre .. "attention.value"):view(B, L, NH, HD):transpose(2, 3)
    local ctx = F.attention(q, k, v, {additive_mask = mask}):transpose(2, 3):reshape(B, L, C)
    local h = F.layernorm(x + lin(ctx, pre .. "attention.dense"),
      p[pre .. "attention.layernorm.weight"], p[pre .. "attention.layernorm.bias"], EPS)
    local ffn = lin(F.silu(lin(h, pre .. "ffn.dense1")), pre .. "ffn.dense2")
    x = F.layernorm(h + ffn, p[pre .. "ffn.layernorm.weight"], p[pre .. "ffn.layernorm.bias"], EPS)
  end
  local user = x:select(2, L)                           -- (B, C): the last position
  local scores = user:matmul(p["item_embedding.weight"]:t()) -- (B, N_ITEMS), pad id 0 included
  return user, scores, mask
end

local function loss_of(scores)
  return F.cross_entropy(scores, fx.pos_items)
end

-- ---- cases --------------------------------------------------------------------------------------

T.case("fixture holds what the test expects", function()
  T.eq(fx.item_seq:shape(), {4, L})
  T.eq(fx.item_seq:dtype(), "i64")
  T.eq(fx.pos_items:shape(), {4})
  T.eq(fx.scores:shape(), {4, N_ITEMS})
  T.eq(fx.user_vectors:shape(), {4, C})
  T.eq(fx.loss:shape(), {})
  T.eq(fx.adamw_losses:shape(), {10})
  T.eq(fx["position_embedding.weight"]:shape(), {L + 1, C})
  local rows = fx.item_seq:tolist()
  local full_pad = 0
  for b = 1, #rows do
    local zeros = 0
    for s = 1, L do if rows[b][s] == PAD then zeros = zeros + 1 end end
    if zeros == L then full_pad = full_pad + 1 end
  end
  T.eq(full_pad, 1, "one fully padded row")
  for _, name in ipairs(WEIGHTS) do
    T.ok(fx[name] ~= nil and fx["grad." .. name] ~= nil, "weight and grad stored: " .. name)
  end
  T.eq(additive_mask(fx.item_seq):tolist(), fx.attention_mask:tolist(), "mask built here = fixture's mask")
end)

T.case("forward: user vectors, scores and loss match PyTorch", function()
  local p = load_params()
  local user, scores = forward(p, fx.item_seq)
  check_close("user_vectors", user, fx.user_vectors, 1e-5)
  check_close("scores", scores, fx.scores, 1e-5)
  check_close("user vector of the fully padded row", user:select(1, 4), fx.user_vectors:select(1, 4), 1e-5)
  local got, want = loss_of(scores):item(), fx.loss:item()
  T.ok(math.abs(got - want) <= 1e-5 * math.abs(want), string.format("loss: got %.9g, want %.9g", got, want))
end)

T.case("forward: the full-softmax loss written out equals cross_entropy", function()
  local p = load_params()
  local _, scores = forward(p, fx.item_seq)
  -- mean over rows of logsumexp(scores) - scores[pos], from the scores' values in Lua doubles
  local s, pos = scores:tolist(), fx.pos_items:tolist()
  local total = 0.0
  for b = 1, #s do
    local m = -math.huge
    for j = 1, #s[b] do m = math.max(m, s[b][j]) end
    local z = 0.0
    for j = 1, #s[b] do z = z + math.exp(s[b][j] - m) end
    total = total + (m + math.log(z) - s[b][pos[b] + 1])
  end
  T.near(loss_of(scores):item(), total / #s, 1e-6, "loss from the scores")
end)

T.case("backward: every weight gradient matches PyTorch", function()
  local p = load_params()
  local _, scores = forward(p, fx.item_seq)
  loss_of(scores):backward()
  local worst, worst_name = fixture.check_grads(p, WEIGHTS, fx, 1e-4, 1e-3)
  -- the last position-table row is never looked up: exactly zero
  local last = flatten(p["position_embedding.weight"]:grad():select(1, L + 1):tolist())
  local nonzero = 0
  for _, v in ipairs(last) do if v ~= 0 then nonzero = nonzero + 1 end end
  T.eq(nonzero, 0, "unused position row has a zero gradient")
  print(string.format("  worst gradient error %.3g (%s)", worst, worst_name))
end)

T.case("10 AdamW steps: losses match PyTorch", function()
  local p = load_params()
  local worst = fixture.check_adamw_losses(p, WEIGHTS, fx,
    {lr = 1e-3, betas = {0.9, 0.999}, eps = 1e-8, weight_decay = 0},
    function()
      local _, scores = forward(p, fx.item_seq)
      return loss_of(scores)
    end, 1e-4)
  print(string.format("  worst AdamW loss error %.3g", worst))
end)

T.done()
