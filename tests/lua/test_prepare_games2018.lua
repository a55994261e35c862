-- test_prepare_games2018.lua — recipes' prepare pipeline on the real shared data
-- (../../../shared/data/amazon-games-2018; skipped when absent): the stats must fall near the
-- paper's Table B1 (3,901 users, 1,864 items, 31,672 interactions; this data is LC-Rec's 5-core
-- of the same 2018 files and our sampler is not Python's, so +-3% / +-3% / +-5% is allowed), and
-- the output files must be consistent (prepare_outputs.lua).
local T = require "harness"
local check = require "prepare_outputs"
local prepare = require "recx.data.prepare"

local dir = "../../../shared/data/amazon-games-2018"
local f = io.open(dir .. "/sequences.txt", "rb")
if not f then T.skip("the shared data " .. dir .. " is absent") end
f:close()

local out = os.tmpname()
os.remove(out)

local function cfg(extra)
  local c = {source = "games2018", reviews = "", meta = "", reviews_url = "", meta_url = "", data_dir = dir,
             out_dir = out, seed = 2022, filter_seed = 2023, item_thred = 2000, user_thred = 4000, k = 5,
             lenient = false, progress = false, syn_users = 1000, syn_items = 400, syn_seed = 1}
  for k, v in pairs(extra or {}) do c[k] = v end
  return c
end

T.case("games2018: stats near the paper's Games dataset", function()
  local st = prepare.run(cfg())
  T.ok(math.abs(st.users - 3901) <= 0.03 * 3901, "users " .. st.users .. " within 3% of 3,901")
  T.ok(math.abs(st.items - 1864) <= 0.03 * 1864, "items " .. st.items .. " within 3% of 1,864")
  T.ok(math.abs(st.interactions - 31672) <= 0.05 * 31672, "interactions " .. st.interactions .. " within 5% of 31,672")
  T.ok(st.sparsity > 0.99 and st.sparsity < 0.999, "sparsity " .. st.sparsity)
  T.eq(st.source_report.sequences_users, 50546, "SOURCE.md user count")
  T.eq(st.source_report.sequences_interactions, 452989, "SOURCE.md interaction count")
end)

T.case("games2018: output files are consistent", function()
  local r = check.check(out)
  -- titles are HTML-decoded: no "&amp;" left
  local encoded = 0
  for _, rec in ipairs(r.meta) do
    if rec.title:find("&amp;", 1, true) or rec.title:find("&reg;", 1, true) then encoded = encoded + 1 end
  end
  T.eq(encoded, 0, "HTML entities decoded")
  -- reviewerIDs from Games.user2id
  T.ok(r.maps.id2user["1"]:match("^A[%w]+$") ~= nil, "user names are reviewerIDs")
end)

T.case("games2018: same seeds give the same files", function()
  local first = io.open(out .. "/sequential_data.txt"):read("a")
  local out2 = out .. "_again"
  prepare.run(cfg({out_dir = out2}))
  T.eq(io.open(out2 .. "/sequential_data.txt"):read("a") == first, true, "byte-identical")
  os.execute("rm -rf '" .. out2 .. "'")
end)

os.execute("rm -rf '" .. out .. "'")
T.done()
