-- recx.data.stats — summary numbers of a set of user sequences, and a tiny ordered JSON writer.
--
-- Owns: users, items, interactions, sparsity, the sequence-length histogram (a list of
-- {length, users} pairs by length) and min / median /
-- mean / max (compute), the one-line text of them (line), and the JSON encoder that the
-- preparation outputs use (encode): object keys sorted (a `first` list may put some keys in
-- front), so equal data gives byte-identical files; null (core.data.null) and non-finite
-- numbers become null; an empty table is an empty list.
local core = require "recx.core"

local M = {}

-- compute(seqs) for seqs = {[uid] = {item, ...}} with uids 1..#seqs.
function M.compute(seqs)
  local lens, total, items = {}, 0, {}
  local n_items = 0
  for u = 1, #seqs do
    local s = seqs[u]
    lens[u] = #s
    total = total + #s
    for _, it in ipairs(s) do
      if not items[it] then items[it] = true; n_items = n_items + 1 end
    end
  end
  local n = #lens
  local count = {}
  for _, l in ipairs(lens) do count[l] = (count[l] or 0) + 1 end
  table.sort(lens)
  local hist = {} -- {{length, users}, ...} by length
  for i, l in ipairs(lens) do
    if l ~= lens[i - 1] then hist[#hist + 1] = {l, count[l]} end
  end
  local median = 0
  if n > 0 then median = n % 2 == 1 and lens[(n + 1) // 2] or (lens[n // 2] + lens[n // 2 + 1]) / 2 end
  return {
    users = n, items = n_items, interactions = total,
    sparsity = (n > 0 and n_items > 0) and 1 - total / (n * n_items) or 0,
    len_min = lens[1] or 0, len_median = median, len_mean = n > 0 and total / n or 0, len_max = lens[n] or 0,
    len_histogram = hist,
  }
end

-- "users 3901, items 1864, interactions 31672, sparsity 99.564%, length min 5 / median 7 / mean 8.12 / max 49"
function M.line(st)
  return string.format("users %d, items %d, interactions %d, sparsity %.3f%%, length min %d / median %s / mean %.2f / max %d",
    st.users, st.items, st.interactions, 100 * st.sparsity, st.len_min, string.format("%g", st.len_median), st.len_mean,
    st.len_max)
end

-- ---- JSON ----------------------------------------------------------------------------------

local ESC = {['"'] = '\\"', ['\\'] = '\\\\', ['\n'] = '\\n', ['\r'] = '\\r', ['\t'] = '\\t',
             ['\b'] = '\\b', ['\f'] = '\\f'}

local function string_json(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESC[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end
M.string_json = string_json

local function is_list(t)
  local n = #t
  for k in pairs(t) do
    if math.type(k) ~= "integer" or k < 1 or k > n then return false end
  end
  return true
end

local encode

local function encode_into(v, out, first)
  local tv = type(v)
  if tv == "string" then
    out[#out + 1] = string_json(v)
  elseif tv == "number" then
    if math.type(v) == "integer" then
      out[#out + 1] = string.format("%d", v)
    elseif v ~= v or v == math.huge or v == -math.huge then
      out[#out + 1] = "null"
    elseif v == math.floor(v) and math.abs(v) < 1e15 then
      out[#out + 1] = string.format("%.1f", v)
    else
      out[#out + 1] = string.format("%.17g", v)
    end
  elseif tv == "boolean" then
    out[#out + 1] = v and "true" or "false"
  elseif v == nil or v == core.data.null then
    out[#out + 1] = "null"
  elseif tv == "table" then
    if is_list(v) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = ", " end
        encode_into(v[i], out)
      end
      out[#out + 1] = "]"
    else
      local keys, front = {}, {}
      for _, k in ipairs(first or {}) do
        if v[k] ~= nil then keys[#keys + 1] = k; front[k] = true end
      end
      local rest = {}
      for k in pairs(v) do
        if not front[k] then rest[#rest + 1] = tostring(k) end
      end
      table.sort(rest)
      for _, k in ipairs(rest) do keys[#keys + 1] = k end
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = ", " end
        out[#out + 1] = string_json(k)
        out[#out + 1] = ": "
        local val = v[k]
        if val == nil then val = v[math.tointeger(tonumber(k))] end
        encode_into(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    error("stats.encode: cannot write a " .. tv .. " as JSON", 3)
  end
end

-- encode(value [, first]) -> JSON text; `first` lists object keys written before the sorted rest
-- (at the top level only).
function encode(v, first)
  local out = {}
  encode_into(v, out, first)
  return table.concat(out)
end
M.encode = encode

return M
