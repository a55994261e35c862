-- recx.data.synthetic — a synthetic video-game recommendation dataset that runs anywhere.
--
-- Owns: generating a catalogue of plausible video-game items (title, brand, platform, genre,
-- franchise, features, description) and users with latent tastes (1-2 platforms, 2-3 genres, a
-- favourite franchise) whose sequences follow those tastes with a Zipf-like popularity skew, and
-- writing it in the same files as prepare_data (docs: SPEC section 2):
--   sequential_data.txt  "uid iid1 iid2 ..." one line per user
--   metadata.json        JSON lines, line k <-> item id k
--   datamaps.json        {user2id, item2id, id2user, id2item}, ids as strings
-- Everything is drawn from a private splitmix64 generator on Lua 64-bit integers (never
-- math.random, whose stream is unspecified) and JSON is written with a fixed key order, so one
-- seed gives byte-identical files on every machine. Every item ends up in at least 5 sequences
-- and every user has at least min_len (>= 5) items, so a 5-core filter keeps everything.
local M = {}

-- splitmix64: the state advances by a fixed odd constant; the output is a bijective mix.
local function new_rng(seed)
  local state = math.tointeger(seed) or error("synthetic: seed must be an integer", 3)
  local rng = {}
  function rng.next()
    state = state + 0x9E3779B97F4A7C15
    local z = state
    z = (z ~ (z >> 30)) * 0xBF58476D1CE4E5B9
    z = (z ~ (z >> 27)) * 0x94D049BB133111EB
    return z ~ (z >> 31)
  end
  -- Uniform float in [0, 1) from the top 53 bits.
  function rng.uniform() return (rng.next() >> 11) * (1.0 / 9007199254740992.0) end
  -- Uniform integer in [lo, hi].
  function rng.int(lo, hi) return lo + math.floor(rng.uniform() * (hi - lo + 1)) end
  function rng.pick(list) return list[rng.int(1, #list)] end
  return rng
end
M.new_rng = new_rng

local PLATFORMS = {
  "PlayStation 4", "PlayStation 3", "Xbox One", "Xbox 360", "Nintendo Switch", "Wii U",
  "Nintendo 3DS", "PC",
}
local GENRES = {
  "Racing", "Role-Playing", "Shooter", "Platformer", "Sports", "Strategy", "Puzzle",
  "Fighting", "Adventure", "Simulation",
}
-- Franchise name, publisher, home genre.
local FRANCHISES = {
  {"Star Racer", "Nova Interactive", "Racing"}, {"Turbo Drift", "Apex Games", "Racing"},
  {"Road Kings", "Ironclad Studios", "Racing"}, {"Dragon Crown Saga", "Lumen Soft", "Role-Playing"},
  {"Eternal Quest", "Silverleaf", "Role-Playing"}, {"Shadow Realms", "Blackforge", "Role-Playing"},
  {"Iron Front", "Ironclad Studios", "Shooter"}, {"Steel Storm", "Apex Games", "Shooter"},
  {"Zero Hour", "Blackforge", "Shooter"}, {"Pixel Hop", "Bright Bear", "Platformer"},
  {"Sky Jumper", "Lumen Soft", "Platformer"}, {"Captain Comet", "Bright Bear", "Platformer"},
  {"Pro Goal", "Stadium Works", "Sports"}, {"Slam Court", "Stadium Works", "Sports"},
  {"Ice Legends", "Nova Interactive", "Sports"}, {"Empire Forge", "Silverleaf", "Strategy"},
  {"Galactic Command", "Nova Interactive", "Strategy"}, {"Kingdom Tactics", "Lumen Soft", "Strategy"},
  {"Block Logic", "Bright Bear", "Puzzle"}, {"Mind Maze", "Silverleaf", "Puzzle"},
  {"Fist of Fury", "Apex Games", "Fighting"}, {"Arena Clash", "Blackforge", "Fighting"},
  {"Lost Temple", "Ironclad Studios", "Adventure"}, {"Tides of Myth", "Lumen Soft", "Adventure"},
  {"Hidden Harbor", "Silverleaf", "Adventure"}, {"Farm Life", "Bright Bear", "Simulation"},
  {"Sky Pilot", "Stadium Works", "Simulation"}, {"City Builder", "Nova Interactive", "Simulation"},
}
local NUMERALS = {"2", "3", "4", "5", "II", "III", "IV", "Zero", "Origins", "Reborn"}
local SUBTITLES = {
  "Turbo", "Rising Storm", "The Lost Crown", "Nightfall", "Frontier", "Awakening", "Legacy",
  "Black Ops", "World Tour", "Overdrive", "Dark Horizon", "Revolution", "Uprising", "Infinity",
  "Last Light", "Eclipse", "Homecoming", "Showdown",
}
local EDITIONS = {
  "Game of the Year Edition", "Deluxe Edition", "Collector's Edition", "Complete Edition",
  "Turbo Edition", "Definitive Edition", "Limited Edition", "Gold Edition",
}
local FEATURES = {
  "Online multiplayer for up to 8 players", "Split-screen local co-op", "Over 40 hours of story",
  "Photo mode", "4K and HDR support", "Custom character creator", "Dozens of unlockable items",
  "Level editor", "Leaderboards and weekly challenges", "Original orchestral soundtrack",
  "Motion controls", "Open world to explore", "Ranked competitive mode", "Offline campaign",
  "Cross-save support", "Includes bonus downloadable content",
}
local ADJECTIVES = {"thrilling", "sprawling", "beautifully crafted", "fast-paced", "acclaimed",
  "challenging", "family-friendly", "action-packed"}

local function build_title(rng, franchise, platform)
  local title = franchise
  local r = rng.uniform()
  if r < 0.55 then title = title .. " " .. rng.pick(NUMERALS) end
  if rng.uniform() < 0.6 then title = title .. ": " .. rng.pick(SUBTITLES) end
  if rng.uniform() < 0.3 then title = title .. " - " .. rng.pick(EDITIONS) end
  return title .. " - " .. platform
end

local function make_items(rng, n_items)
  local items, seen = {}, {}
  for i = 1, n_items do
    local f = rng.pick(FRANCHISES)
    -- Most games sit in their franchise's genre; some are spin-offs.
    local genre = rng.uniform() < 0.8 and f[3] or rng.pick(GENRES)
    local platform = rng.pick(PLATFORMS)
    local title
    for _ = 1, 20 do
      title = build_title(rng, f[1], platform)
      if not seen[title] then break end
    end
    local k = 2
    local base = title
    while seen[title] do -- rare: fall back to a volume number, still unique
      title = base .. " (Vol. " .. k .. ")"
      k = k + 1
    end
    seen[title] = true
    local feats, used = {}, {}
    for _ = 1, rng.int(2, 4) do
      local feat = rng.pick(FEATURES)
      if not used[feat] then used[feat] = true; feats[#feats + 1] = feat end
    end
    local adjective = rng.pick(ADJECTIVES)
    local description = string.format("%s %s %s game in the %s series for %s, published by %s.",
      string.find(adjective, "^[aeiou]") and "An" or "A", adjective, string.lower(genre), f[1],
      platform, f[2])
    items[i] = {title = title, brand = f[2], platform = platform, genre = genre,
                franchise = f[1], features = feats, description = description}
  end
  return items
end

-- Index of a popularity-weighted draw among items not in `used`; nil when none is left.
local function weighted_draw(rng, candidates, weight, used)
  local total = 0.0
  for _, c in ipairs(candidates) do if not used[c] then total = total + weight[c] end end
  if total <= 0 then return nil end
  local x = rng.uniform() * total
  local last
  for _, c in ipairs(candidates) do
    if not used[c] then
      last = c
      x = x - weight[c]
      if x < 0 then return c end
    end
  end
  return last
end

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Distinct draws of k entries from list, in draw order.
local function pick_distinct(rng, list, k)
  local out, used = {}, {}
  while #out < k do
    local v = rng.pick(list)
    if not used[v] then used[v] = true; out[#out + 1] = v end
  end
  return out
end

local function check_int(opts, key, lo)
  local v = opts[key]
  if math.type(v) ~= "integer" or v < lo then
    error(string.format("synthetic.generate: %s must be an integer >= %d, got %s", key, lo, tostring(v)), 3)
  end
end

-- generate{seed=1, n_users=1000, n_items=400, min_len=5, max_len=15, taste=0.8, zipf=1.0}
-- -> {items = {{id, asin, title, brand, platform, genre, franchise, features, description}...},
--     sequences = {[uid] = {iid, ...}}, users = {[uid] = {platforms, genres, franchise}}}
-- Items are numbered by first appearance walking users 1..U, as prepare_data numbers them.
function M.generate(opts)
  opts = opts or {}
  local o = {seed = 1, n_users = 1000, n_items = 400, min_len = 5, max_len = 15, taste = 0.8, zipf = 1.0}
  for k, v in pairs(opts) do
    if o[k] == nil then error("synthetic.generate: unknown option '" .. tostring(k) .. "'", 2) end
    o[k] = v
  end
  check_int(o, "n_users", 5)
  check_int(o, "n_items", 1)
  check_int(o, "min_len", 5)
  check_int(o, "max_len", o.min_len)
  if o.max_len > o.n_items then
    error(string.format("synthetic.generate: max_len %d exceeds n_items %d", o.max_len, o.n_items), 2)
  end
  if o.n_users * o.min_len < 5 * o.n_items then
    error(string.format("synthetic.generate: %d users x min_len %d cannot cover %d items 5 times each",
      o.n_users, o.min_len, o.n_items), 2)
  end
  local rng = new_rng(o.seed)
  local items = make_items(rng, o.n_items)

  -- Zipf-like popularity: a random permutation of items gets weights 1 / rank^zipf.
  local order = {}
  for i = 1, o.n_items do order[i] = i end
  for i = o.n_items, 2, -1 do
    local j = rng.int(1, i)
    order[i], order[j] = order[j], order[i]
  end
  local weight, all = {}, {}
  for rank, i in ipairs(order) do weight[i] = 1.0 / rank ^ o.zipf end
  for i = 1, o.n_items do all[i] = i end

  local users, seqs, count = {}, {}, {}
  for i = 1, o.n_items do count[i] = 0 end
  for u = 1, o.n_users do
    local plats = pick_distinct(rng, PLATFORMS, rng.int(1, 2))
    local genres = pick_distinct(rng, GENRES, rng.int(2, 3))
    local fav = rng.pick(FRANCHISES)[1]
    local ps, gs = set_of(plats), set_of(genres)
    local match = {}
    for i, it in ipairs(items) do
      if ps[it.platform] and (gs[it.genre] or it.franchise == fav) then match[#match + 1] = i end
    end
    users[u] = {platforms = plats, genres = genres, franchise = fav, match = match}
    local len = rng.int(o.min_len, o.max_len)
    local seq, used = {}, {}
    while #seq < len do
      local i
      if rng.uniform() < o.taste then i = weighted_draw(rng, match, weight, used) end
      i = i or weighted_draw(rng, all, weight, used)
      used[i] = true
      seq[#seq + 1] = i
      count[i] = count[i] + 1
    end
    seqs[u] = seq
  end

  -- Repair: an item in fewer than 5 sequences replaces, at a random position, an item that has
  -- more than 5, in users whose tastes it matches first, then in anyone's.
  for i = 1, o.n_items do
    for pass = 1, 2 do
      local start = rng.int(1, o.n_users)
      for step = 0, o.n_users - 1 do
        if count[i] >= 5 then break end
        local u = (start + step - 1) % o.n_users + 1
        local fits = pass == 2
        if not fits then
          for _, m in ipairs(users[u].match) do if m == i then fits = true; break end end
        end
        local seq = seqs[u]
        local has = false
        for _, v in ipairs(seq) do if v == i then has = true; break end end
        if fits and not has then
          local p = rng.int(1, #seq)
          for _ = 1, #seq do
            if count[seq[p]] > 5 then
              count[seq[p]] = count[seq[p]] - 1
              seq[p] = i
              count[i] = count[i] + 1
              break
            end
            p = p % #seq + 1
          end
        end
      end
    end
    if count[i] < 5 then
      error(string.format("synthetic.generate: could not place item %d in 5 sequences", i), 2)
    end
  end

  -- Renumber items by first appearance, as prepare_data does.
  local new_id, next_id = {}, 0
  for u = 1, o.n_users do
    for p, i in ipairs(seqs[u]) do
      if not new_id[i] then next_id = next_id + 1; new_id[i] = next_id end
      seqs[u][p] = new_id[i]
    end
  end
  local out_items = {}
  for i, it in ipairs(items) do
    local id = new_id[i]
    it.id = id
    it.asin = string.format("SYN%06d", id)
    out_items[id] = it
  end
  for _, user in ipairs(users) do user.match = nil end
  return {items = out_items, sequences = seqs, users = users}
end

-- JSON with a fixed key order (cjson's order follows the hash table and is not stable).
local function json_string(s)
  return '"' .. string.gsub(s, '[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\" end
    return string.format("\\u%04x", string.byte(c))
  end) .. '"'
end

local function json_list(list)
  local parts = {}
  for k, v in ipairs(list) do parts[k] = json_string(v) end
  return "[" .. table.concat(parts, ", ") .. "]"
end

local function json_map(keys, values)
  local parts = {}
  for k, key in ipairs(keys) do parts[k] = json_string(key) .. ": " .. json_string(values[k]) end
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function write_file(path, text)
  local f, err = io.open(path, "wb")
  if not f then error("synthetic.write: cannot open " .. path .. ": " .. tostring(err), 3) end
  f:write(text)
  f:close()
end

M.user_name = function(uid) return string.format("SYNU%06d", uid) end

-- write(dataset, dir): sequential_data.txt, metadata.json and datamaps.json under dir (created).
function M.write(data, dir)
  os.execute("mkdir -p '" .. string.gsub(dir, "'", "'\\''") .. "'")
  local lines = {}
  for u, seq in ipairs(data.sequences) do
    lines[u] = tostring(u) .. " " .. table.concat(seq, " ")
  end
  write_file(dir .. "/sequential_data.txt", table.concat(lines, "\n") .. "\n")

  local meta = {}
  for id, it in ipairs(data.items) do
    meta[id] = "{" .. table.concat({
      '"asin": ' .. json_string(it.asin),
      '"title": ' .. json_string(it.title),
      '"brand": ' .. json_string(it.brand),
      '"category": ' .. json_list({"Video Games", it.platform, it.genre}),
      '"platform": ' .. json_string(it.platform),
      '"genre": ' .. json_string(it.genre),
      '"franchise": ' .. json_string(it.franchise),
      '"feature": ' .. json_list(it.features),
      '"description": ' .. json_string(it.description),
    }, ", ") .. "}"
  end
  write_file(dir .. "/metadata.json", table.concat(meta, "\n") .. "\n")

  local unames, uids, inames, iids = {}, {}, {}, {}
  for u = 1, #data.sequences do unames[u] = M.user_name(u); uids[u] = tostring(u) end
  for id, it in ipairs(data.items) do inames[id] = it.asin; iids[id] = tostring(id) end
  write_file(dir .. "/datamaps.json", "{" .. table.concat({
    '"user2id": ' .. json_map(unames, uids),
    '"item2id": ' .. json_map(inames, iids),
    '"id2user": ' .. json_map(uids, unames),
    '"id2item": ' .. json_map(iids, inames),
  }, ", ") .. "}\n")
end

-- Summary numbers: users, items, interactions, sparsity and sequence length min/median/mean/max.
function M.stats(data)
  local lens, total = {}, 0
  for u, seq in ipairs(data.sequences) do lens[u] = #seq; total = total + #seq end
  table.sort(lens)
  local n = #lens
  local median = n % 2 == 1 and lens[(n + 1) // 2] or (lens[n // 2] + lens[n // 2 + 1]) / 2
  return {users = n, items = #data.items, interactions = total,
          sparsity = 1 - total / (n * #data.items),
          len_min = lens[1], len_median = median, len_mean = total / n, len_max = lens[n]}
end

return M
