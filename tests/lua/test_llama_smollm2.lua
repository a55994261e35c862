-- test_llama_smollm2.lua — the real SmolLM2-135M-Instruct (Q4_1 GGUF) in recx against
-- transformers loading the same GGUF (dequantised to float32): logits of three ChatML prompts
-- (a 512-column slice at every position, per-position max/mean/std over the whole vocabulary,
-- the last position's top-20) within 1e-3, and HF's 32-token greedy continuation reproduced
-- exactly by a cached greedy loop (EOS banned for 32 tokens, as HF's min_new_tokens does). Reference: tests/fixtures/smollm2_reference.safetensors
-- (make_llama_fixtures.py --smollm2). Prints the load time and the decode speed.
-- Skips when the GGUF (T.models_dir()) or recx.gguf is absent.
local T = require "harness"
local U = require "llama_util"
local recx = require "recx"

local path = T.models_dir() .. "/SmolLM2-135M-Instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
local probe = io.open(path, "rb")
if not probe then T.skip(path .. " not found (recx pull SmolLM2-135M-Instruct)") end
probe:close()
if not (recx.gguf and recx.gguf.open) then T.skip("recx.gguf is not in this build") end

local llama = require "recx.llm.llama"
local tensor = recx.tensor
local ref = recx.safetensors.load(U.FIXTURES .. "smollm2_reference.safetensors")

local t0 = recx.clock()
local m = llama.load(path)
print(string.format("  load: %.2f s", recx.clock() - t0))

T.case("config from the GGUF metadata", function()
  local c = m.config
  T.eq({c.num_hidden_layers, c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.intermediate_size,
    c.vocab_size, c.head_dim}, {30, 576, 9, 3, 1536, 49152, 64})
  T.eq(c.tie_word_embeddings, true)
  T.eq(c.rope_theta, 100000.0)
  T.eq({c.bos_token_id, c.eos_token_id, c.pad_token_id}, {1, 2, 2})
  T.eq(m.source, path)
end)

T.case("logits of three ChatML prompts equal transformers' on the same GGUF (1e-3)", function()
  local worst = 0
  for i = 1, 3 do
    local ids = ref["prompt_" .. i]
    local Tn = ids:numel()
    local logits = recx.no_grad(m.forward, m, ids:view(1, Tn)):select(1, 1) -- (T, V)
    local d = U.maxdiff(logits:narrow(2, 1, 512), ref["slice_" .. i])
    T.ok(d <= 1e-3, string.format("prompt %d: slice max diff %.3g", i, d))
    local l64 = logits:to("f64")
    local mx = l64:max(2)
    local mean = l64:mean(2)
    local sd = ((l64 - mean:unsqueeze(2)):square():mean(2)):sqrt()
    local got = tensor.stack({mx, mean, sd}, 2)
    d = U.maxdiff(got, ref["rowstats_" .. i])
    T.ok(d <= 1e-3, string.format("prompt %d: row max/mean/std max diff %.3g", i, d))
    local last = logits:select(1, -1)
    local top_ids = ref["last_top_ids_" .. i]
    d = U.maxdiff(last:index_select(1, top_ids), ref["last_top_vals_" .. i])
    T.ok(d <= 1e-3, string.format("prompt %d: top-20 values max diff %.3g", i, d))
    T.eq(last:argmax():item(), top_ids:tolist()[1], "argmax")
    worst = math.max(worst, U.maxdiff(logits:narrow(2, 1, 512), ref["slice_" .. i]))
  end
  print(string.format("  worst |recx - HF| over the logit slices: %.3g", worst))
end)

T.case("cached greedy continuation (EOS banned) equals HF's 32 tokens exactly", function()
  local prompt = ref.greedy_prompt
  local want = ref.greedy_new:tolist()
  local cache = m:new_cache(1, prompt:numel() + #want)
  local got = {}
  local t_pre = recx.clock()
  local t_dec
  recx.no_grad(function()
    local nxt = prompt:view(1, -1)
    for k = 1, #want do
      local logits = m:forward(nxt, {cache = cache, logits_at = "last"})
      -- HF ran with min_new_tokens = 32: EOS (2) is banned, so take the best other id
      local _, top = logits:select(1, 1):topk(2)
      top = top:tolist()
      got[k] = top[1] == 2 and top[2] or top[1]
      nxt = tensor.from({{got[k]}}, {dtype = "i64"})
      if k == 1 then t_dec = recx.clock(); t_pre = t_dec - t_pre end
    end
  end)
  local dt = recx.clock() - t_dec
  print(string.format("  prefill %d tokens: %.3f s; decode: %.1f tok/s (batch 1, %d threads)", prompt:numel(), t_pre,
    (#want - 1) / dt, recx.num_threads()))
  T.eq(got, want)
end)

T.done()
