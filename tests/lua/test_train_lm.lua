-- test_train_lm.lua — acceptance (2): a tiny transformer LM (lua/recx/models/tiny_lm.lua:
-- embedding, 2 pre-norm blocks with RMSNorm, grouped-query attention with RoPE and a causal
-- mask, SwiGLU MLP, untied head; ~20k parameters) learns a synthetic sequence task.
--
-- Task: arithmetic progressions mod 16, t[i+1] = (t[i] + s) mod 16 with a random start and a
-- random stride s in {1, 2, 3} per sequence, 16 tokens. The first target depends on the unseen
-- stride (best loss log 3), every later one is determined by the two previous tokens, so the
-- best mean loss is log(3)/16 = 0.069 while any model that ignores the context (a bigram
-- table) stays at log(3) = 1.10. Bound: after 200 AdamW steps (batch 16, cosine schedule with
-- warmup, clipping at 1) the held-out loss is < 0.25, and it started near log(16) = 2.77.
-- The tied-head variant and a bf16-free f64 forward are checked for shape and finiteness.
local T = require "harness"
local recx = require "recx"
local tensor = recx.tensor
local TinyLM = require "recx.models.tiny_lm"

local V, Tn = 16, 16

local function batch(B, g)
  local start = tensor.randint(0, V, {B, 1}, {generator = g})
  local stride = tensor.randint(1, 4, {B, 1}, {generator = g})
  local seq = (start + stride * tensor.arange(Tn + 1):view(1, Tn + 1)) % V
  return seq:narrow(2, 1, Tn), seq:narrow(2, 2, Tn)
end

T.case("parameter names follow LlamaForCausalLM", function()
  local lm = TinyLM({seed = 1})
  local names = {}
  for _, e in ipairs(lm:named_parameters()) do names[e[1]] = e[2]:shape() end
  T.eq(names["model.embed_tokens.weight"], {16, 32})
  T.eq(names["model.layers.0.self_attn.q_proj.weight"], {32, 32})
  T.eq(names["model.layers.1.self_attn.k_proj.weight"], {16, 32}, "2 kv heads of dim 8")
  T.eq(names["model.layers.1.mlp.gate_proj.weight"], {64, 32})
  T.eq(names["model.layers.0.post_attention_layernorm.weight"], {32})
  T.eq(names["model.norm.weight"], {32})
  T.eq(names["lm_head.weight"], {16, 32})
  local tied = TinyLM({seed = 1, tie = true})
  T.eq(tied.lm_head, nil)
  T.eq(#tied:parameters(), #lm:parameters() - 1)
end)

T.case("the tiny LM learns progressions mod 16: held-out loss < 0.25 after 200 steps", function()
  local lm = TinyLM({vocab = V, dim = 32, layers = 2, heads = 4, kv_heads = 2, hidden = 64, seed = 1})
  local opt = recx.optim.adamw(recx.optim.param_groups(lm, {weight_decay = 0.01}), {lr = 3e-3})
  local sched = recx.optim.schedules.cosine(opt, {warmup_steps = 10, total_steps = 200})
  local g = tensor.generator(7)
  local eval_ids, eval_tgt = batch(64, tensor.generator(99))
  local function eval() return recx.no_grad(function() return lm:loss(eval_ids, eval_tgt):item() end) end
  local before = eval()
  for _ = 1, 200 do
    local ids, tgt = batch(16, g)
    local loss <close> = lm:loss(ids, tgt)
    loss:backward()
    recx.optim.clip_grad_norm(opt:params(), 1.0)
    opt:step()
    sched:step()
    opt:zero_grad()
  end
  local after = eval()
  print(string.format("  loss before %.4f after %.4f", before, after))
  T.ok(math.abs(before - math.log(16)) < 0.5, string.format("starts near log 16: %.3f", before))
  T.ok(after < 0.25, string.format("held-out loss %.4f < 0.25 (context-free best: %.3f)", after, math.log(3)))
  -- the causal mask: changing the last token changes no earlier logits
  recx.no_grad(function()
    local ids = eval_ids:narrow(1, 1, 1):clone()
    local a = lm(ids)
    ids:narrow(2, Tn, 1):fill_(0)
    local b = lm(ids)
    T.eq(a:narrow(2, 1, Tn - 1):tolist(), b:narrow(2, 1, Tn - 1):tolist(), "earlier positions unchanged")
  end)
end)

T.case("tied head and f64: forward and backward run", function()
  local lm = TinyLM({seed = 2, tie = true, dtype = "f64"})
  local ids, tgt = batch(2, tensor.generator(1))
  local logits = lm(ids)
  T.eq(logits:shape(), {2, Tn, V})
  T.eq(logits:dtype(), "f64")
  local loss = lm:loss(ids, tgt)
  loss:backward()
  local g = lm.model.embed_tokens.weight:grad()
  T.ok(g ~= nil and g:abs():sum():item() > 0, "the tied weight gets gradient from both uses")
end)

T.done()
