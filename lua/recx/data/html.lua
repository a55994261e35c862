-- recx.data.html — decoding of HTML character references in item titles.
--
-- Owns: the named entities that occur in Amazon metadata titles (the table below), decimal
-- (&#233;) and hexadecimal (&#xE9;) character references written out as UTF-8. Anything else,
-- an unknown name or a number that is not a Unicode scalar value, is left exactly as written.
local M = {}

-- name -> code point
local NAMED = {
  amp = 0x26, lt = 0x3C, gt = 0x3E, quot = 0x22, apos = 0x27, nbsp = 0xA0,
  eacute = 0xE9, egrave = 0xE8, ecirc = 0xEA, agrave = 0xE0, aacute = 0xE1, iacute = 0xED,
  oacute = 0xF3, uacute = 0xFA, ntilde = 0xF1, ouml = 0xF6, uuml = 0xFC, auml = 0xE4,
  reg = 0xAE, trade = 0x2122, copy = 0xA9, hellip = 0x2026, ndash = 0x2013, mdash = 0x2014,
  lsquo = 0x2018, rsquo = 0x2019, ldquo = 0x201C, rdquo = 0x201D, deg = 0xB0, frac12 = 0xBD,
  times = 0xD7,
}

local function scalar(cp)
  return cp and cp > 0 and cp <= 0x10FFFF and not (cp >= 0xD800 and cp <= 0xDFFF)
end

local function replace(whole, body)
  local cp
  if body:sub(1, 1) == "#" then
    local hex = body:match("^#[xX](%x+)$")
    local dec = body:match("^#(%d+)$")
    if hex then cp = tonumber(hex, 16) elseif dec then cp = tonumber(dec, 10) end
  else
    cp = NAMED[body]
  end
  if scalar(cp) then return utf8.char(cp) end
  return whole
end

-- The string `s` with its known character references decoded (one pass: "&amp;lt;" -> "&lt;").
function M.decode(s)
  if type(s) ~= "string" then
    error("html.decode: argument #1: expected a string, got " .. type(s), 2)
  end
  if not s:find("&", 1, true) then return s end
  return (s:gsub("(&(#?%w+);)", replace))
end

return M
