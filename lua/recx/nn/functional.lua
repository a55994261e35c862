-- recx.nn.functional — the differentiable building blocks as plain functions.
--
-- Owns: nothing but assembly: the fused nn ops bound in C (runtime/lua/nn.c: linear, embedding,
-- rmsnorm, layernorm, rope, rope_tables, rope_inv_freq, attention, swiglu, dropout,
-- cross_entropy, bce_with_logits, mse) plus the activations and softmaxes that are tensor
-- methods (relu, gelu, gelu_tanh, silu, tanh, sigmoid, softmax, log_softmax), so that model
-- code can take every op from one table: `local F = recx.nn.functional`.
local core = require "recx.core"

local F = {}
for name, fn in pairs(core.nn) do F[name] = fn end
for _, name in ipairs({"relu", "gelu", "gelu_tanh", "silu", "tanh", "sigmoid", "softmax", "log_softmax"}) do
  F[name] = core.tensor[name]
end

return F
