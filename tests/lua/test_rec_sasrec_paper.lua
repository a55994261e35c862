-- test_rec_sasrec_paper.lua — the paper variant of recx.models.sasrec (SASRec.Paper) against a
-- forward pass written out in Lua doubles from the module's weights, in eval mode.
--
-- Owns: the architecture facts taken from the authors' code: item embedding * sqrt(d) + learned
-- positions 0..L-1, padding rows zeroed, per block q = LN(x) and x = q + softmax(QK^T/sqrt(dh) +
-- mask) V with Q from q and K, V from x (no output projection; causal, padded keys masked), then
-- h = LN(x), x = (h + W2 relu(W1 h + b1) + b2) * keep, and a final LN (eps 1e-8); the hidden
-- states of every position (rel. error <= 1e-5), the scores; the BCE loss over the non-padding
-- targets against a hand computation; parameter names, Xavier-uniform init bounds; train mode
-- uses dropout; the model file round trip.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local SASRec = require "recx.models.sasrec"
local model_file = require "recx.rec.model_file"

recx.num_threads(1)

local CFG = {variant = "paper", n_items = 9, dim = 4, layers = 2, heads = 2, max_len = 5, dropout = 0.5, seed = 3}

local function P(m)
  local out = {}
  for name, t in pairs(m:state_dict()) do out[name] = t:tolist() end
  return out
end

local function layernorm(v, w, b, eps)
  local n, mean, var = #v, 0, 0
  for i = 1, n do mean = mean + v[i] / n end
  for i = 1, n do var = var + (v[i] - mean) ^ 2 / n end
  local out = {}
  for i = 1, n do out[i] = (v[i] - mean) / math.sqrt(var + eps) * w[i] + b[i] end
  return out
end

local function linear(v, w, b)
  local out = {}
  for o = 1, #w do
    local s = b[o]
    for i = 1, #v do s = s + w[o][i] * v[i] end
    out[o] = s
  end
  return out
end

-- The reference forward of one left-padded sequence -> list of L hidden vectors.
local function reference(p, seq)
  local L, C, H = #seq, CFG.dim, CFG.heads
  local dh, eps = C // H, 1e-8
  local x, keep = {}, {}
  for t = 1, L do
    keep[t] = seq[t] ~= 0 and 1 or 0
    local e, pos = p["item_embedding.weight"][seq[t] + 1], p["position_embedding.weight"][t]
    x[t] = {}
    for c = 1, C do x[t][c] = (e[c] * math.sqrt(C) + pos[c]) * keep[t] end
  end
  for blk = 0, CFG.layers - 1 do
    local function w(n) return p[string.format("blocks.%d.%s", blk, n)] end
    local q, Q, K, V = {}, {}, {}, {}
    for t = 1, L do
      q[t] = layernorm(x[t], w("attn_norm.weight"), w("attn_norm.bias"), eps)
      Q[t] = linear(q[t], w("query.weight"), w("query.bias"))
      K[t] = linear(x[t], w("key.weight"), w("key.bias"))
      V[t] = linear(x[t], w("value.weight"), w("value.bias"))
    end
    local nx = {}
    for t = 1, L do
      local ctx = {}
      for h = 0, H - 1 do
        local sc, mx = {}, -math.huge
        for s = 1, L do
          local d = 0
          for c = 1, dh do d = d + Q[t][h * dh + c] * K[s][h * dh + c] end
          sc[s] = d / math.sqrt(dh) + ((s <= t and seq[s] ~= 0) and 0 or -10000)
          mx = math.max(mx, sc[s])
        end
        local z = 0
        for s = 1, L do sc[s] = math.exp(sc[s] - mx); z = z + sc[s] end
        for c = 1, dh do
          local v = 0
          for s = 1, L do v = v + sc[s] / z * V[s][h * dh + c] end
          ctx[h * dh + c] = v
        end
      end
      local a = {}
      for c = 1, C do a[c] = q[t][c] + ctx[c] end
      local hN = layernorm(a, w("ffn_norm.weight"), w("ffn_norm.bias"), eps)
      local inner = linear(hN, w("dense1.weight"), w("dense1.bias"))
      for i = 1, #inner do inner[i] = math.max(0, inner[i]) end
      local o = linear(inner, w("dense2.weight"), w("dense2.bias"))
      nx[t] = {}
      for c = 1, C do nx[t][c] = (hN[c] + o[c]) * keep[t] end
    end
    x = nx
  end
  for t = 1, L do x[t] = layernorm(x[t], p["last_layernorm.weight"], p["last_layernorm.bias"], eps) end
  return x
end

local SEQS = {{0, 0, 3, 1, 7}, {2, 4, 6, 8, 5}, {0, 0, 0, 0, 1}}

local function trained_like()
  -- move every LayerNorm and bias away from 1 / 0 so that the reference exercises them
  local m = SASRec.build(CFG)
  local g = tensor.generator(42)
  recx.no_grad(function()
    for _, e in ipairs(m:named_parameters()) do
      if e[1]:find("norm") or e[1]:sub(-5) == ".bias" then
        e[2]:add_(tensor.randn(e[2]:shape(), {generator = g}) * 0.3)
      end
    end
  end)
  return m:eval()
end

T.case("eval forward equals the reference written in Lua doubles", function()
  local m = trained_like()
  local p = P(m)
  local h = m(tensor.from(SEQS, {dtype = "i64"})):tolist()
  local worst = 0
  for b, seq in ipairs(SEQS) do
    local want = reference(p, seq)
    for t = 1, #seq do
      for c = 1, CFG.dim do worst = math.max(worst, math.abs(h[b][t][c] - want[t][c]) / (1 + math.abs(want[t][c]))) end
    end
  end
  T.ok(worst <= 1e-5, "worst relative error " .. worst)
  -- scores: the last position against the unscaled item table
  local s = m:scores(tensor.from(SEQS, {dtype = "i64"})):tolist()
  local want = reference(p, SEQS[2])[5]
  for i = 1, CFG.n_items do
    local d = 0
    for c = 1, CFG.dim do d = d + want[c] * p["item_embedding.weight"][i][c] end
    T.near(s[2][i], d, 1e-5, "score of item " .. (i - 1))
  end
end)

T.case("BCE loss over the non-padding targets equals a hand computation", function()
  local m = trained_like()
  local p = P(m)
  local seq = tensor.from({{0, 0, 3, 1, 7}, {2, 4, 6, 8, 5}}, {dtype = "i64"})
  local pos = tensor.from({{0, 3, 1, 7, 2}, {4, 6, 8, 5, 1}}, {dtype = "i64"})
  local neg = tensor.from({{5, 6, 8, 2, 4}, {1, 2, 3, 7, 6}}, {dtype = "i64"})
  local rows = tensor.from({1, 2, 3, 4, 5, 6, 7, 8, 9}, {dtype = "i64"}) -- every position but (1, 1)
  local got = m:bce_loss(seq, pos, neg, rows):item()
  local S, Pp, N = seq:tolist(), pos:tolist(), neg:tolist()
  local lp, ln, k = 0, 0, 0
  for b = 1, 2 do
    local h = reference(p, S[b])
    for t = 1, 5 do
      if Pp[b][t] ~= 0 then
        local dp, dn = 0, 0
        for c = 1, CFG.dim do
          dp = dp + h[t][c] * p["item_embedding.weight"][Pp[b][t] + 1][c]
          dn = dn + h[t][c] * p["item_embedding.weight"][N[b][t] + 1][c]
        end
        lp, ln, k = lp - math.log(1 / (1 + math.exp(-dp))), ln - math.log(1 - 1 / (1 + math.exp(-dn))), k + 1
      end
    end
  end
  T.eq(k, 9)
  T.near(got, lp / k + ln / k, 1e-5, "loss")
end)

T.case("names, init, dropout, model file", function()
  local m = SASRec.build(CFG)
  local names = {}
  for _, e in ipairs(m:named_parameters()) do names[#names + 1] = e[1] end
  T.eq(#names, 2 + 2 * 14 + 2, "parameter count")
  T.eq(m.position_embedding.weight:shape(), {5, 4}, "max_len positions (no extra row)")
  local bound = math.sqrt(6 / (9 + 4))
  T.ok(m.item_embedding.weight:abs():max():item() <= bound, "Xavier-uniform bound")
  T.eq(m.item_embedding.weight:select(1, 1):abs():sum():item(), 0, "padding row")
  T.eq(m.blocks[1].query.bias:abs():sum():item(), 0, "biases 0")
  local seq = tensor.from(SEQS, {dtype = "i64"})
  local a = recx.no_grad(m, seq)
  m:eval()
  local b = recx.no_grad(m, seq)
  T.ok((a - b):abs():max():item() > 1e-3, "train mode applies dropout")
  local path = os.tmpname()
  model_file.save(path, m)
  local m2, cfg = model_file.load(path)
  os.remove(path)
  T.eq(cfg.hidden_act, "relu")
  T.eq(cfg.max_seq_len, 5)
  T.eq(m2.cfg.variant, "paper")
  T.near((m2:scores(seq) - m:scores(seq)):abs():max():item(), 0, 0, "same scores after the round trip")
  T.raises("n_items: expected an integer >= 2", function() SASRec.build({variant = "paper"}) end)
end)

T.done()
