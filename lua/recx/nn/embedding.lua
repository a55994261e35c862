-- recx.nn.Embedding — rows of a (num_embeddings, dim) table looked up by integer ids.
--
-- Owns: the weight, initialised N(0, 1) as torch's Embedding, with the row padding_idx zeroed.
-- Ids are 0-based data (token id 0 is the first row); padding_idx too, and its row receives no
-- gradient. Options: padding_idx, dtype (default "f32"), device, generator.
local Module = require "recx.nn.module"
local F = require "recx.nn.functional"
local init = require "recx.nn.initializers"
local core = require "recx.core"

local Embedding = Module:extend("Embedding")

function Embedding:init(num_embeddings, dim, opts)
  for i, v in ipairs({num_embeddings, dim}) do
    if math.type(v) ~= "integer" or v < 1 then
      error(string.format("Embedding: argument #%d: expected a positive integer, got %s", i, tostring(v)), 3)
    end
  end
  opts = Module.check_options("Embedding", opts, {"padding_idx", "dtype", "device", "generator"})
  local pad = opts.padding_idx
  if pad ~= nil then
    if math.type(pad) ~= "integer" then error("Embedding: padding_idx: expected an integer, got " .. tostring(pad), 3) end
    if pad < 0 then pad = pad + num_embeddings end
    if pad < 0 or pad >= num_embeddings then
      error(string.format("Embedding: padding_idx %d out of range for %d embeddings (ids are 0-based)",
        opts.padding_idx, num_embeddings), 3)
    end
  end
  self.num_embeddings, self.dim, self.padding_idx = num_embeddings, dim, pad
  local w = core.tensor.empty({num_embeddings, dim}, {dtype = opts.dtype or "f32", device = opts.device})
  init.normal_(w, 0, 1, opts.generator)
  if pad then core.no_grad(function() w:select(1, pad + 1):fill_(0) end) end
  self:register_parameter("weight", w)
end

function Embedding:forward(ids)
  return F.embedding(self.weight, ids, self.padding_idx)
end

function Embedding:extra_repr()
  return string.format("%d, %d%s", self.num_embeddings, self.dim,
    self.padding_idx and (", padding_idx=" .. self.padding_idx) or "")
end

return Embedding
