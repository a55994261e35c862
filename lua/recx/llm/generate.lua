-- recx.llm.generate — greedy decoding with a model whose forward maps ids (1, T) to logits
-- (1, T, V) (recx.llm.llama).
--
-- Owns: the loop that reruns the whole forward on the sequence so far (no KV cache: meant for
-- small models), appends the argmax of the last position's logits, and stops after max_new
-- tokens, at a stop token (default EOS = 2; the stop token is kept), or at the model's seq_len.
-- Use:
--   local ids = require("recx.llm.generate").greedy(model, prompt_ids, {max_new = 60})
local recx = require "recx"
local tensor = recx.tensor

local M = {}

-- prompt: list of token ids (non-empty). Returns the prompt followed by the new ids.
function M.greedy(model, prompt, opts)
  opts = opts or {}
  assert(#prompt > 0, "generate.greedy: argument #2: expected a non-empty list of ids")
  local max_new = opts.max_new or 64
  local stop = opts.stop or {[2] = true}
  local limit = model.cfg and model.cfg.seq_len or math.huge
  local ids = {}
  for i, v in ipairs(prompt) do ids[i] = v end
  recx.no_grad(function()
    for _ = 1, max_new do
      if #ids >= limit then break end
      local logits = model:forward(tensor.from({ids}, {dtype = "i64"})) -- (1, T, V)
      local next_id = logits:select(2, -1):argmax():item()
      ids[#ids + 1] = next_id
      if stop[next_id] then break end
    end
  end)
  return ids
end

return M
