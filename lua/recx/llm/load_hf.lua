-- recx.llm.load_hf — loads a Hugging Face model folder into a recx.llm.llama model.
--
-- Owns: reading config.json, finding the weights (model.safetensors, or
-- model.safetensors.index.json whose weight_map names the shard of every tensor), checking that
-- every parameter the config implies is present with the right shape and that no unknown
-- tensor is left over (rotary inv_freq buffers are ignored), and converting f32/bf16/f16 weights
-- to the asked dtype and device. Tensors that need no conversion view the memory-mapped file
-- (no copy). A tied model may omit lm_head.weight (and when it stores one, it must equal the
-- embedding's shape; the embedding is used).
-- Use:
--   local m = require("recx.llm.load_hf").load("models/tiny", {dtype = "bf16"})
local recx = require "recx"
local fs = require "recx.util.fs"
local llama = require "recx.llm.llama"

local M = {}

local function fail(dir, fmt, ...) error("llama.load: " .. dir .. ": " .. string.format(fmt, ...), 0) end

local function read_json(dir, name)
  local v, err = fs.read_json(dir .. "/" .. name)
  if err then fail(dir, "%s: invalid JSON: %s", name, err) end
  return v
end

-- name -> function() returning the tensor, over one file or the shards of an index.
local function open_weights(dir)
  local files, where = {}, {}
  local single = dir .. "/model.safetensors"
  if fs.exists(single) then
    local f = recx.safetensors.open(single)
    files[1] = f
    for _, n in ipairs(f:names()) do where[n] = f end
    return where, files
  end
  local index = read_json(dir, "model.safetensors.index.json")
  if not index then fail(dir, "expected model.safetensors or model.safetensors.index.json") end
  if type(index.weight_map) ~= "table" then fail(dir, "model.safetensors.index.json: expected a weight_map object") end
  local opened = {}
  for name, shard in pairs(index.weight_map) do
    if type(shard) ~= "string" or shard:find("/", 1, true) then
      fail(dir, "model.safetensors.index.json: tensor '%s': expected a shard file name, got %s", name, tostring(shard))
    end
    if not opened[shard] then
      opened[shard] = recx.safetensors.open(dir .. "/" .. shard)
      files[#files + 1] = opened[shard]
    end
    where[name] = opened[shard]
  end
  return where, files
end

-- opts: dtype ("f32" default), device.
function M.load(dir, opts)
  opts = opts or {}
  local raw = read_json(dir, "config.json")
  if not raw then fail(dir, "config.json not found") end
  local m = llama.new(raw, {dtype = opts.dtype, device = opts.device, init = false})
  local where, files = open_weights(dir)
  local want = {dtype = m.model.embed_tokens.weight:dtype(), device = opts.device}
  local used, missing = {}, {}
  for _, e in ipairs(llama.expected_tensors(m)) do
    local name = e[1]
    local f = where[name]
    if f then
      local t = f:get(name)
      local ok, err = pcall(llama.set_parameter, m, name, t:to(want))
      if not ok then fail(dir, "%s", err) end
      used[name] = true
    else
      missing[#missing + 1] = name
    end
  end
  if #missing > 0 then fail(dir, "missing tensors: %s", table.concat(missing, ", ")) end
  local extra = {}
  for name in pairs(where) do
    if not used[name] and not name:match("rotary_emb%.inv_freq$")
      and not (name == "lm_head.weight" and m.config.tie_word_embeddings) then
      extra[#extra + 1] = name
    end
  end
  table.sort(extra)
  if #extra > 0 then fail(dir, "unexpected tensors (not in a %s of this config): %s", m.config.model_type, table.concat(extra, ", ")) end
  llama.retie(m)
  for _, f in ipairs(files) do f:close() end
  m.hf_config = raw
  return m
end

return M
