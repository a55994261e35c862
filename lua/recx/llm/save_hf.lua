-- recx.llm.save_hf — writes a recx.llm.llama model as a Hugging Face model folder.
--
-- Owns: the folder layout transformers' from_pretrained reads: config.json (architectures,
-- model_type, torch_dtype / dtype, the sizes, rope_theta and rope_scaling, tie_word_embeddings,
-- special token ids), model.safetensors with the HF tensor names in the model's parameter order
-- (a tied lm_head is not stored, as transformers does), and copies of the tokenizer files found
-- in opts.tokenizer_dir. The safetensors file is written atomically by recx.safetensors.save.
-- Use:
--   model:save_hf("out/my-model", {dtype = "bf16", tokenizer_dir = "models/SmolLM2"})
local recx = require "recx"
local cjson = require "cjson"
local C = require "recx.llm.config"

local M = {}

local HF_DTYPE = {f32 = "float32", bf16 = "bfloat16", f16 = "float16", f64 = "float64"}
local TOKENIZER_FILES = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json",
  "merges.txt", "tokenizer.model", "added_tokens.json", "generation_config.json"}

local function fail(dir, fmt, ...) error("save_hf: " .. dir .. ": " .. string.format(fmt, ...), 0) end

local function copy_file(src, dst)
  local f = io.open(src, "rb")
  if not f then return false end
  local data = f:read("a")
  f:close()
  local o = assert(io.open(dst, "wb"))
  o:write(data)
  o:close()
  return true
end

-- opts: dtype (default: the model's), tokenizer_dir. Returns the list of files written.
function M.save(m, dir, opts)
  opts = recx.nn.Module.check_options("save_hf", opts, {"dtype", "tokenizer_dir"})
  if type(dir) ~= "string" or dir == "" then error("save_hf: argument #2: expected a folder path", 2) end
  local dtype = opts.dtype or m.model.embed_tokens.weight:dtype()
  if not HF_DTYPE[dtype] then fail(dir, "dtype: expected f32, bf16, f16 or f64, got %s", tostring(dtype)) end
  os.execute("mkdir -p '" .. dir:gsub("'", "'\\''") .. "'")
  local list = {}
  for _, e in ipairs(m:named_parameters()) do
    local t = e[2]:detach()
    if t:dtype() ~= dtype or t:device() ~= "cpu" then t = t:to({dtype = dtype, device = "cpu"}) end
    list[#list + 1] = {e[1], t}
  end
  recx.safetensors.save(dir .. "/model.safetensors", list, {format = "pt"})
  local conf = C.to_hf(m.config, HF_DTYPE[dtype])
  local f = io.open(dir .. "/config.json", "wb")
  if not f then fail(dir, "cannot write config.json") end
  local enc = cjson.new()
  enc.encode_number_precision(14)
  f:write(enc.encode(conf))
  f:close()
  local written = {"config.json", "model.safetensors"}
  if opts.tokenizer_dir then
    for _, name in ipairs(TOKENIZER_FILES) do
      if copy_file(opts.tokenizer_dir .. "/" .. name, dir .. "/" .. name) then written[#written + 1] = name end
    end
  end
  return written
end

return M
