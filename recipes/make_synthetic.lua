-- make_synthetic.lua — write the synthetic video-game dataset (recx.data.synthetic) in the files
-- prepare_data writes (sequential_data.txt, metadata.json, datamaps.json) and print its stats.
-- The same seed gives byte-identical files on every machine.
--
--   recx recipes/make_synthetic.lua                        # 1,000 users, 400 items
--   recx recipes/make_synthetic.lua seed=7 users=200 items=60 out=/tmp/syn
local recx = require "recx"
local synthetic = require "recx.data.synthetic"

local cfg = recx.config {
  seed = 1,        -- generator seed
  users = 1000,    -- number of users
  items = 400,     -- number of items
  min_len = 5,     -- shortest sequence
  max_len = 15,    -- longest sequence
  out = "out/synthetic",
}

local data = synthetic.generate {seed = cfg.seed, n_users = cfg.users, n_items = cfg.items,
                                 min_len = cfg.min_len, max_len = cfg.max_len}
synthetic.write(data, cfg.out)
local s = synthetic.stats(data)
print(string.format("users %d, items %d, interactions %d, sparsity %.3f%%", s.users, s.items,
  s.interactions, 100 * s.sparsity))
print(string.format("sequence length: min %d, median %s, mean %.2f, max %d", s.len_min,
  tostring(s.len_median), s.len_mean, s.len_max))
print("wrote " .. cfg.out .. "/{sequential_data.txt,metadata.json,datamaps.json}")
