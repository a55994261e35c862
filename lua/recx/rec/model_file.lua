-- recx.rec.model_file — a trained recommender as one .safetensors file that rebuilds itself.
--
-- Owns: the exported model format (SPEC 3.3: what the LLM side needs to rebuild the recommender).
--   tensors   the model's state_dict() under its own names (item_embedding.weight, ...)
--   metadata  "recx.rec_config": JSON with UniRec's config keys (model "SASRec" | "MF", n_users,
--             n_items, embedding_size, n_layers, n_heads, inner_size, hidden_dropout_prob,
--             attn_dropout_prob, hidden_act, layer_norm_eps, max_seq_len, use_position_emb,
--             has_user_emb, distance_type "dot", tau 1.0, init_method, init_std) and "recx", the
--             module's own config (what load() passes to the constructor; variant "unirec" |
--             "paper" for SASRec)
--             "recx.rec_extra": JSON of the caller's extra table (epoch, metrics, ...), optional
-- The file is written atomically (recx.safetensors.save). load(path) -> model (eval mode), config.
local recx = require "recx"
local cjson = require "cjson"

local M = {KEY = "recx.rec_config", EXTRA = "recx.rec_extra"}

local function unirec_config(model)
  local c = model.cfg
  if c.model == "MF" then
    return {model = "MF", n_users = c.n_users, n_items = c.n_items, embedding_size = c.dim, has_user_emb = true,
      distance_type = "dot", tau = 1.0, init_method = "normal", init_std = 0.02, recx = c}
  end
  local paper = c.variant == "paper"
  return {model = "SASRec", n_items = c.n_items, embedding_size = c.dim, n_layers = c.layers, n_heads = c.heads,
    inner_size = paper and c.dim or c.inner, hidden_dropout_prob = paper and c.dropout or c.hidden_dropout,
    attn_dropout_prob = paper and c.dropout or c.attn_dropout, hidden_act = paper and "relu" or "swish",
    layer_norm_eps = c.eps, max_seq_len = c.max_len, use_position_emb = true, has_user_emb = false,
    distance_type = "dot", tau = 1.0, init_method = paper and "xavier_uniform" or "normal", init_std = 0.02,
    recx = c}
end

-- save(path, model [, extra]) -> path
function M.save(path, model, extra)
  if type(model) ~= "table" or type(model.cfg) ~= "table" then
    error("model_file.save: argument #2: expected a recx recommender (SASRec or MF)", 2)
  end
  local meta = {[M.KEY] = cjson.encode(unirec_config(model))}
  if extra then meta[M.EXTRA] = cjson.encode(extra) end
  recx.safetensors.save(path, model:state_dict(), meta)
  return path
end

-- load(path) -> model (eval mode, on the CPU), the stored UniRec-style config table, extra
function M.load(path)
  local tensors, meta = recx.safetensors.load(path)
  local text = meta[M.KEY]
  if not text then error("model_file.load: " .. path .. ": no \"" .. M.KEY .. "\" metadata (not a recx recommender)", 0) end
  local cfg = cjson.decode(text)
  local c = cfg.recx
  for k, v in pairs(c) do
    if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then c[k] = math.tointeger(v) end
  end
  -- dropout rates and eps are never whole numbers except 0: keep them floats
  for _, k in ipairs({"dropout", "hidden_dropout", "attn_dropout", "eps"}) do
    if c[k] ~= nil then c[k] = c[k] + 0.0 end
  end
  local model
  if cfg.model == "MF" then
    model = require("recx.models.mf")(c)
  elseif cfg.model == "SASRec" then
    model = require("recx.models.sasrec").build(c)
  else
    error("model_file.load: " .. path .. ": unknown model '" .. tostring(cfg.model) .. "'", 0)
  end
  model:load_state_dict(tensors)
  model:eval()
  local extra = meta[M.EXTRA] and cjson.decode(meta[M.EXTRA]) or nil
  return model, cfg, extra
end

return M
