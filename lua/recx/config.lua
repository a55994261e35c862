-- recx.config — typed experiment configuration with command-line overrides.
--
-- Owns: merging a recipe's defaults with `key=value` pairs from the command line
-- (`recx recipe.lua steps=200 lr=3e-4 device=cuda`). Values are typed: "true"/"false" become
-- booleans, numerals become numbers (integers stay integers), anything else stays a string.
-- An override must name a declared key and fit its default's type; mistakes are errors that
-- list what was expected, so a typo never silently runs the wrong experiment.
local M = {}

-- Raw overrides set by the recx executable before the recipe runs: a list of "key=value".
M.cli_args = M.cli_args or {}

local function parse_value(text)
  if text == "true" then return true end
  if text == "false" then return false end
  local n = math.tointeger(tonumber(text)) or tonumber(text)
  if n ~= nil then return n end
  return text
end
M.parse_value = parse_value

-- Splits "key=value" pairs into a table of typed values (and a table of the raw texts, so that
-- a string setting keeps "007" as written); errors name the offending pair.
function M.parse_overrides(args)
  local out, raw = {}, {}
  for i, pair in ipairs(args or {}) do
    local key, value = string.match(pair, "^([%a_][%w_%.]*)=(.*)$")
    if not key then
      error(string.format("config: argument #%d '%s': expected key=value", i, pair), 2)
    end
    out[key] = parse_value(value)
    raw[key] = value
  end
  return out, raw
end

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  return keys
end

local function coerce(key, value, default)
  local want = type(default)
  local got = type(value)
  if want == got then
    if want == "number" and math.type(default) == "integer" and math.type(value) ~= "integer" then
      error(string.format("config: %s=%s: expected an integer (default %s)", key, tostring(value), tostring(default)), 3)
    end
    return value
  end
  if want == "number" and got == "string" then
    error(string.format("config: %s=%s: expected a number (default %s)", key, value, tostring(default)), 3)
  elseif want == "boolean" then
    error(string.format("config: %s=%s: expected true or false", key, tostring(value)), 3)
  elseif want == "string" then
    return tostring(value) -- "cuda:1" stays a string, and so does a numeric-looking name
  end
  error(string.format("config: %s=%s: expected a %s like the default %s", key, tostring(value), want, tostring(default)), 3)
end

-- config(defaults [, overrides]) -> a new table: defaults overridden by `overrides` (a table of
-- typed values) or, when absent, by the command line. Unknown keys are errors.
function M.config(defaults, overrides)
  assert(type(defaults) == "table", "config: argument #1: expected a table of defaults")
  local raw = {}
  if not overrides then overrides, raw = M.parse_overrides(M.cli_args) end
  local cfg = {}
  for k, v in pairs(defaults) do cfg[k] = v end
  for k, v in pairs(overrides) do
    if defaults[k] == nil then
      error(string.format("config: unknown key '%s' (known: %s)", k, table.concat(sorted_keys(defaults), ", ")), 2)
    end
    if type(defaults[k]) == "string" and raw[k] then
      cfg[k] = raw[k] -- a string setting keeps the text exactly as typed
    else
      cfg[k] = coerce(k, v, defaults[k])
    end
  end
  return cfg
end

return M
