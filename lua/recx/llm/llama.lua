-- recx.llm.llama — the Llama forward pass (llama2.c's run.c architecture) over
-- recx.nn.functional, for weights from recx.llm.llama2c.
--
-- Owns: embedding -> n blocks (RMSNorm eps 1e-5 -> grouped-query attention with RoPE
-- (theta 10000) and a causal mask -> residual; RMSNorm -> SwiGLU w2(silu(w1 x) * w3 x) ->
-- residual) -> final RMSNorm -> classifier. wq/wk come from the loader already permuted to
-- the rotate-half layout that F.rope uses. Query head h reads key/value head h // (H / G),
-- as in run.c. No KV cache: each call runs the whole sequence.
-- Use:
--   local Llama = require "recx.llm.llama"
--   local m = Llama.new(require("recx.llm.llama2c").load(path))
--   local logits = m:forward(ids)   -- ids (B, T) i64 -> (B, T, vocab)
local recx = require "recx"
local F = recx.nn.functional
local tensor = recx.tensor

local M = {}
M.__index = M

function M.new(checkpoint, opts)
  opts = opts or {}
  local c = checkpoint.config
  return setmetatable({cfg = c, w = checkpoint.weights, eps = opts.eps or 1e-5,
    inv_freq = F.rope_inv_freq(c.head_dim, opts.rope_theta or 10000.0)}, M)
end

-- ids (B, T) i64 -> logits (B, T, vocab) f32
function M:forward(ids)
  local c, w = self.cfg, self.w
  local B, Tn, D = ids:size(1), ids:size(2), c.head_dim
  assert(Tn <= c.seq_len, string.format("llama: argument #1: expected at most %d positions, got %d", c.seq_len, Tn))
  local cos, sin = F.rope_tables(tensor.arange(Tn), self.inv_freq)
  local x = F.embedding(w.embedding, ids) -- (B, T, C)
  for _, l in ipairs(w.layers) do
    local h = F.rmsnorm(x, l.rms_att, self.eps)
    local function heads(wt, n) return F.linear(h, wt):view(B, Tn, n, D):transpose(2, 3) end -- (B, n, T, D)
    local q = F.rope(heads(l.wq, c.n_heads), cos, sin)
    local k = F.rope(heads(l.wk, c.n_kv_heads), cos, sin)
    local v = heads(l.wv, c.n_kv_heads)
    local a = F.attention(q, k, v, {causal = true}) -- (B, H, T, D)
    x = x + F.linear(a:transpose(2, 3):reshape(B, Tn, c.dim), l.wo)
    local g = F.rmsnorm(x, l.rms_ffn, self.eps)
    x = x + F.linear(F.swiglu(F.linear(g, l.w1), F.linear(g, l.w3)), l.w2)
  end
  return F.linear(F.rmsnorm(x, w.final_norm, self.eps), w.classifier)
end

return M
