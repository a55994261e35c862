-- export_recommender.lua — exports a trained recommender for the LLM side (SPEC 3.3): the
-- *_top.txt files, sim_item.txt, user and item embeddings and the model file.
--
-- Inputs: model_path (a model.safetensors from recipes/train_recommender.lua; it rebuilds itself
-- from its config metadata) and data_dir/sequential_data.txt. Rows come from data_dir/train_ids.csv
-- and test_ids.csv (tab-separated, header "user_id item_id", written by recipes/prepare_data.lua)
-- or, when those are absent, from the same SPEC 2.3 split of the sequences.
-- Files in out_dir (formats in docs/formats.md, rules in lua/recx/rec/export.lua):
--   train_top.txt, test_top.txt  `times` lines per row: uid iid top i1,..,i5 pos neg score(pos) score(neg)
--   sim_item.txt                 "iid<TAB>most similar other item" for every item
--   user_emb.safetensors         uid (R) i64, iid (R) i64, embedding (R, dim) f32: the user vector
--                                behind every test row
--   item_emb.safetensors         embedding (n_items, dim) f32 (row 0 = padding)
--   SASRec.safetensors | MF.safetensors  a copy of the model file
-- splits: "" picks the reference's choice: SASRec exports train and test, MF test only
-- (unirec_mf_infer.sh). times: 0 picks 1 for SASRec and 6 for MF.
--
--   recx recipes/export_recommender.lua model_path=out/sasrec/model.safetensors data_dir=out/data out_dir=out/sasrec_export
local recx = require "recx"
local batches = require "recx.rec.batches"
local export = require "recx.rec.export"
local model_file = require "recx.rec.model_file"

local tensor = recx.tensor

local cfg = recx.config {
  model_path = "out/train_recommender/model.safetensors",
  data_dir = "out/data",
  out_dir = "out/export_recommender",
  splits = "",     -- comma list of train, test; "": SASRec train,test; MF test
  times = 0,       -- lines per row; 0: SASRec 1, MF 6
  tau = 1.0,
  batch = 100,     -- rows scored per matmul (test_batch_size)
  seed = 2023,
  device = "cpu",
  threads = 1,
}

local NAME = "export_recommender"
local function fail(fmt, ...) error(NAME .. ": " .. string.format(fmt, ...), 0) end
recx.num_threads(cfg.threads)
local f = io.open(cfg.model_path, "rb")
if not f then fail("cannot read model_path=%s (recipes/train_recommender.lua writes it)", cfg.model_path) end
f:close()
if not os.execute("mkdir -p '" .. cfg.out_dir:gsub("'", "'\\''") .. "'") then fail("cannot create %s", cfg.out_dir) end

local model, mcfg = model_file.load(cfg.model_path)
if cfg.device ~= "cpu" then model:to(cfg.device) end
local is_mf = mcfg.model == "MF"
local times = cfg.times > 0 and cfg.times or (is_mf and 6 or 1)
local splits = cfg.splits ~= "" and cfg.splits or (is_mf and "test" or "train,test")
local seqs, _, n_items = batches.read_sequences(cfg.data_dir .. "/sequential_data.txt")
if n_items > mcfg.n_items then
  fail("%s has item ids up to %d but the model knows %d ids", cfg.data_dir, n_items - 1, mcfg.n_items - 1)
end

local function rows_of(which)
  local path = cfg.data_dir .. "/" .. which .. "_ids.csv"
  local fh = io.open(path, "r")
  if fh then
    fh:close()
    return export.read_ids(path), path
  end
  return export.rows_for(seqs, which), "the split of sequential_data.txt"
end

local gen = tensor.generator(cfg.seed)
local t0 = recx.clock()
for which in splits:gmatch("[^,]+") do
  if which ~= "train" and which ~= "test" then fail("splits: unknown split '%s' (expected train, test)", which) end
  local rows, from = rows_of(which)
  local lines = export.top_lines(model, seqs, rows, {times = times, tau = cfg.tau, batch = cfg.batch, generator = gen,
    device = cfg.device})
  local path = cfg.out_dir .. "/" .. which .. "_top.txt"
  local out = assert(io.open(path .. ".tmp", "w"))
  for _, l in ipairs(lines) do out:write(l, "\n") end
  out:close()
  assert(os.rename(path .. ".tmp", path))
  print(string.format("%s: %s: %d rows from %s -> %d lines (times=%d)", NAME, path, #rows, from, #lines, times))
end

local sim = export.sim_items(model)
do
  local path = cfg.out_dir .. "/sim_item.txt"
  local out = assert(io.open(path .. ".tmp", "w"))
  for i, j in ipairs(sim) do out:write(i, "\t", j, "\n") end
  out:close()
  assert(os.rename(path .. ".tmp", path))
end

local test_rows = rows_of("test")
local uv = export.user_vectors(model, seqs, test_rows, {device = cfg.device})
local uids, iids = {}, {}
for k, r in ipairs(test_rows) do uids[k], iids[k] = r[1], r[2] end
recx.safetensors.save(cfg.out_dir .. "/user_emb.safetensors", {uid = tensor.from(uids, {dtype = "i64"}),
  iid = tensor.from(iids, {dtype = "i64"}), embedding = uv})
recx.safetensors.save(cfg.out_dir .. "/item_emb.safetensors",
  {embedding = model:item_vectors():detach():to("cpu"):contiguous()})
local copy = cfg.out_dir .. "/" .. (is_mf and "MF" or "SASRec") .. ".safetensors"
do -- a byte copy of the model file
  local src = assert(io.open(cfg.model_path, "rb"))
  local bytes = src:read("a")
  src:close()
  local dst = assert(io.open(copy .. ".tmp", "wb"))
  dst:write(bytes)
  dst:close()
  assert(os.rename(copy .. ".tmp", copy))
end
print(string.format("%s: wrote %s/{sim_item.txt,user_emb.safetensors,item_emb.safetensors,%s} in %.1fs", NAME,
  cfg.out_dir, is_mf and "MF.safetensors" or "SASRec.safetensors", recx.clock() - t0))
