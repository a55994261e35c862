-- test_decode_step.lua — the decode step of recx.llm.decode_graph run eagerly on the CPU (the
-- device work a CUDA graph records, without the capture): the unfused step (copy_at_ into the
-- full-length cache, attention over every slot with key_padding, positions and slot kept in
-- tensors) and the fused step (stacked q/k/v and gate/up weights, add_rmsnorm_, rope_append_kv,
-- swiglu_packed) against the model's own cached forward, on the tiny GQA Llama fixture with a
-- left-padded batch, in f32 (1e-5) and bf16 (the same greedy ids). The CUDA graph replay itself
-- is tested in tests/gpu/test_lua_graph_cuda.lua.
local T = require "harness"
local recx = require "recx"
local llama = require "recx.llm.llama"
local decode_graph = require "recx.llm.decode_graph"
local llama_util = require "llama_util"
local tensor = recx.tensor

local prompts = {{1, 5, 9, 3, 17, 60}, {1, 7}, {1, 33, 33}}
local T0, STEPS = 6, 10

local function batch() return llama_util.left_padded(prompts, T0) end

-- Runs STEPS greedy steps through the session and through forward with a cache; returns the
-- largest logit difference and whether the greedy ids agreed at every step.
local function compare(model, fused)
  local ids, mask = batch()
  local worst, same = 0, true
  recx.no_grad(function()
    local s = decode_graph.session(model, 3, T0 + STEPS, {graph = false, fused = fused})
    T.eq(s.fused, fused, "the session takes the " .. (fused and "fused" or "unfused") .. " step")
    local cache = model:new_cache(3, T0 + STEPS)
    local m = mask:clone()
    local a = s.prefill(ids, mask)
    local b = model:forward(ids, {cache = cache, attention_mask = m, logits_at = "last"})
    for _ = 1, STEPS do
      local next_a, next_b = a:argmax(2), b:argmax(2)
      same = same and table.concat(next_a:tolist(), ",") == table.concat(next_b:tolist(), ",")
      a = s.step(next_b:to("i64"))
      m = tensor.cat({m, tensor.ones({3, 1}, {dtype = "i64"})}, 2)
      b = model:forward(next_b:to("i64"):view(3, 1), {cache = cache, attention_mask = m, logits_at = "last"})
      worst = math.max(worst, llama_util.maxdiff(a, b))
    end
    s.close()
  end)
  return worst, same
end

local f32 = llama.load("../fixtures/llama_tiny_gqa")
for _, fused in ipairs({false, true}) do
  T.case(string.format("%s step equals the cached forward (f32)", fused and "fused" or "unfused"), function()
    local worst, same = compare(f32, fused)
    T.ok(worst < 1e-5, string.format("largest logit difference %.2e over %d steps", worst, STEPS))
    T.ok(same, "greedy ids agree at every step")
  end)
end

T.case("fused step in bf16 follows the bf16 cached forward", function()
  local bf16 = llama.load("../fixtures/llama_tiny_gqa", {dtype = "bf16"})
  local worst, same = compare(bf16, true)
  T.ok(worst < 0.1, string.format("largest logit difference %.3f", worst))
  T.ok(same, "greedy ids agree at every step")
end)

T.case("a LoRA-adapted model takes the unfused step", function()
  local lora = require "recx.nn.lora"
  local m = llama.load("../fixtures/llama_tiny_gqa")
  lora.apply(m, {targets = {"q_proj", "v_proj"}, r = 2, alpha = 4, generator = tensor.generator(1)})
  local worst, same = compare(m, false)
  T.ok(worst < 1e-5 and same, "LoRA model, unfused step")
  local s = decode_graph.session(m, 1, 8, {graph = false})
  T.eq(s.fused, false, "stacking is refused with adapters")
end)

T.case("graphs are refused while a dropout draws random numbers, and for sliding windows", function()
  local lora = require "recx.nn.lora"
  local m = llama.load("../fixtures/llama_tiny_gqa")
  T.ok(decode_graph.replayable(m), "a plain model")
  T.ok(not decode_graph.supported(m), "not on the CPU")
  lora.apply(m, {targets = {"q_proj"}, r = 2, alpha = 4, dropout = 0.1, generator = tensor.generator(1)})
  m:train()
  T.ok(not decode_graph.replayable(m), "LoRA dropout in training mode")
  m:eval()
  T.ok(decode_graph.replayable(m), "the same model in eval mode")
  local swa = llama.load("../fixtures/llama_tiny_mistral_swa")
  local windowed = false
  for _, layer in ipairs(swa.model.layers) do windowed = windowed or layer.self_attn.sliding_window ~= nil end
  T.ok(windowed, "the fixture has sliding-window layers")
  T.ok(not decode_graph.replayable(swa), "sliding-window layers are refused")
end)

T.done()
