-- recx.nn — neural-network modules in the spirit of torch/nn, on the autograd tape.
--
-- Owns: the exports: Module (the base class), Linear, Embedding, RMSNorm, LayerNorm, Dropout,
-- Sequential, ModuleList, MLP, the activation modules (ReLU, GELU, GELUTanh, SiLU, Tanh,
-- Sigmoid), `functional` (the fused ops as functions) and `init` (in-place initialisers).
local activation = require "recx.nn.activation"

local nn = {
  Module = require "recx.nn.module",
  Linear = require "recx.nn.linear",
  Embedding = require "recx.nn.embedding",
  RMSNorm = require "recx.nn.rmsnorm",
  LayerNorm = require "recx.nn.layernorm",
  Dropout = require "recx.nn.dropout",
  ModuleList = require "recx.nn.modulelist",
  Sequential = require "recx.nn.sequential",
  MLP = require "recx.nn.mlp",
  functional = require "recx.nn.functional",
  init = require "recx.nn.initializers",
  activations = activation.functions,
}
for _, name in ipairs({"ReLU", "GELU", "GELUTanh", "SiLU", "Tanh", "Sigmoid"}) do nn[name] = activation[name] end

return nn
