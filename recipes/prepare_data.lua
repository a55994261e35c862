-- prepare_data.lua — the recommendation data of SPEC section 2 (RecExplainer's Amazon Video Games
-- preprocessing) from one of three sources, always into the same files in out_dir:
-- sequential_data.txt, metadata.json, datamaps.json, train.tsv, valid.tsv, test.tsv,
-- user_history.tsv, train_ids.csv, test_ids.csv, stats.json (docs/formats.md "Prepared
-- recommendation data"). Prints one stats line.
--
--   recx recipes/prepare_data.lua                                  # shared amazon-games-2018 data
--   recx recipes/prepare_data.lua source=synthetic out_dir=/tmp/syn
--   recx recipes/prepare_data.lua reviews=Video_Games_5.json.gz meta=meta_Video_Games.json.gz
--   recx recipes/prepare_data.lua reviews=... reviews_url=https://... meta=... meta_url=https://...
local recx = require "recx"
local prepare = require "recx.data.prepare"

local cfg = recx.config {
  source = "auto",       -- auto (raw when reviews= is given, else games2018), raw, games2018, synthetic
  reviews = "",          -- raw: Video_Games_5.json.gz (JSON lines; 2014 files work too)
  meta = "",             -- raw: meta_Video_Games.json.gz (JSON lines or 2014 Python literals)
  reviews_url = "",      -- raw: download the reviews file to reviews= when it is absent (needs core.net)
  meta_url = "",         -- raw: the same for meta=
  data_dir = "",         -- games2018: default $RECX_DATA/amazon-games-2018 or <repo>/../shared/data/...
  syn_users = 1000,      -- synthetic: users, items and generator seed
  syn_items = 400,
  syn_seed = 1,
  out_dir = "out/data/amazon_video_games_v3",
  seed = 2022,           -- SPEC 2.1 user shuffle
  filter_seed = 2023,    -- SPEC 2.2 user sample and shuffle
  item_thred = 2000,     -- SPEC 2.2: keep the most frequent items
  user_thred = 4000,     -- SPEC 2.2: sample this many users
  k = 5,                 -- k-core
  lenient = false,       -- skip (and count) malformed lines instead of stopping
  progress = true,       -- progress bars while reading raw files
}

prepare.run(cfg)
