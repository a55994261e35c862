-- recx.plot — line charts written as standalone SVG files, without dependencies.
--
-- Owns: the chart layout (title, axes with ticks at round numbers, grid, axis labels, a legend,
-- one colour per series), linear and logarithmic y axes, and the SVG text itself (XML-escaped,
-- valid for xmllint). Each series becomes one <polyline> whose points are its finite values
-- (NaN and infinities, and with logy values <= 0, are skipped); series of at most 40 points
-- also get a circle per point. The legend goes in the corner of the plot area where it hides
-- the least of the lines. Optional dashed horizontal reference lines (`hlines`) mark levels
-- such as a baseline loss.
--
--   local plot = require "recx.plot"
--   plot.lines{path = "out/loss.svg", title = "loss", xlabel = "step", ylabel = "loss", logy = true,
--     series = {{name = "train", x = {1, 2, 3}, y = {2.1, 1.4, 0.9}},
--               {name = "eval", x = {3}, y = {1.0}}},
--     hlines = {{y = 1.1, name = "baseline"}}}          --> the SVG text (also written to path)
local M = {}

-- Distinct colours (Tableau 10), used in order; series beyond ten reuse them.
M.palette = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#7f7f7f", "#bcbd22"}

local MARKER_MAX = 40 -- series with at most this many points get a circle per point

local function fail(fmt, ...)
  error("plot.lines: " .. string.format(fmt, ...), 0)
end

-- Text and attribute values: & < > " ' as entities.
function M.escape(s)
  return (tostring(s):gsub("[&<>\"']", {["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
    ["'"] = "&#39;"}))
end
local esc = M.escape

local function finite(v)
  return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge
end

-- ---- ticks ---------------------------------------------------------------------------------------

-- The round step (1, 2, 2.5 or 5 times a power of ten) nearest above raw.
local function nice_step(raw)
  local e = 10 ^ math.floor(math.log(raw, 10))
  local f = raw / e
  local m = f <= 1 and 1 or f <= 2 and 2 or f <= 2.5 and 2.5 or f <= 5 and 5 or 10
  return m * e
end

-- Label text for value v on an axis whose ticks are `step` apart.
local function tick_label(v, step)
  if v == 0 then return "0" end
  local a = math.abs(v)
  if a >= 1e6 or a < 1e-4 then return string.format("%g", v) end
  local decimals = math.max(0, -math.floor(math.log(step, 10) + 1e-9))
  if math.abs(step * 10 ^ decimals - math.floor(step * 10 ^ decimals + 0.5)) > 1e-6 then decimals = decimals + 1 end
  return string.format("%." .. decimals .. "f", v)
end

-- linear_ticks(lo, hi [, target = 6 [, pad = 0.03]]) -> ticks, axis_lo, axis_hi: the axis is
-- [lo, hi] widened by pad times its span on each side (a single value: by 10% of itself, or 1
-- around 0); the ticks are the multiples of a round step inside it, about `target` intervals
-- apart. Each tick is {value =, label =}.
function M.linear_ticks(lo, hi, target, pad)
  target, pad = target or 6, pad or 0.03
  if hi < lo then lo, hi = hi, lo end
  if hi == lo then
    local d = lo == 0 and 1 or math.abs(lo) * 0.1
    lo, hi = lo - d, hi + d
  else
    local d = (hi - lo) * pad
    lo, hi = lo - d, hi + d
  end
  local step = nice_step((hi - lo) / target)
  local ticks = {}
  for k = math.ceil(lo / step - 1e-9), math.floor(hi / step + 1e-9) do
    local v = k * step
    ticks[#ticks + 1] = {value = v, label = tick_label(v, step)}
  end
  return ticks, lo, hi
end

-- log_ticks(lo, hi) -> ticks, axis_lo, axis_hi for 0 < lo <= hi: the axis is the data range
-- widened by 3% of its decades on each side; ticks at 1, 2, 5 x 10^k inside it (powers of ten
-- only when it spans more than 3 decades), or linear round ticks when fewer than two fit.
function M.log_ticks(lo, hi)
  if hi < lo then lo, hi = hi, lo end
  local llo, lhi = math.log(lo, 10), math.log(hi, 10)
  local span = lhi - llo
  if span < 1e-9 then span = 0.1; llo, lhi = llo - 0.05, lhi + 0.05 end
  llo, lhi = llo - 0.03 * span, lhi + 0.03 * span
  local alo, ahi = 10 ^ llo, 10 ^ lhi
  local mults = (lhi - llo) > 3 and {1} or {1, 2, 5}
  local ticks = {}
  for d = math.floor(llo), math.ceil(lhi) do
    for _, m in ipairs(mults) do
      local v = m * 10 ^ d
      if v >= alo * (1 - 1e-12) and v <= ahi * (1 + 1e-12) then
        ticks[#ticks + 1] = {value = v, label = string.format("%g", v)}
      end
    end
  end
  if #ticks < 2 then
    local step = nice_step((ahi - alo) / 4)
    ticks = {}
    for k = math.ceil(alo / step - 1e-9), math.floor(ahi / step + 1e-9) do
      local v = k * step
      if v > 0 then ticks[#ticks + 1] = {value = v, label = tick_label(v, step)} end
    end
  end
  return ticks, alo, ahi
end

-- ---- the chart -----------------------------------------------------------------------------------

local spec_keys = {path = true, title = true, xlabel = true, ylabel = true, series = true, logy = true,
  width = true, height = true, hlines = true}

-- Checks the series and returns, per series, the kept points {xs, ys} (finite, and y > 0 with logy).
local function check_series(series, logy)
  if type(series) ~= "table" or #series == 0 then fail("series: expected a non-empty list of {name =, x =, y =}") end
  local kept = {}
  for i, s in ipairs(series) do
    if type(s) ~= "table" then fail("series #%d: expected a table {name =, x =, y =}, got %s", i, type(s)) end
    local name = s.name
    if type(name) ~= "string" then fail("series #%d: name: expected a string, got %s", i, type(name)) end
    if type(s.x) ~= "table" or type(s.y) ~= "table" then
      fail("series #%d '%s': x and y must be lists of numbers", i, name)
    end
    if #s.x ~= #s.y then fail("series #%d '%s': x has %d values but y has %d", i, name, #s.x, #s.y) end
    if #s.x == 0 then fail("series #%d '%s' is empty", i, name) end
    local xs, ys = {}, {}
    for j = 1, #s.x do
      local x, y = s.x[j], s.y[j]
      if type(x) ~= "number" or type(y) ~= "number" then
        fail("series #%d '%s': point %d: expected numbers, got %s and %s", i, name, j, type(x), type(y))
      end
      if finite(x) and finite(y) and (not logy or y > 0) then
        xs[#xs + 1], ys[#ys + 1] = x, y
      end
    end
    if #xs == 0 then
      fail("series #%d '%s' has no finite points%s", i, name, logy and " with y > 0 (logy)" or "")
    end
    kept[i] = {xs = xs, ys = ys}
  end
  return kept
end

local function fmt(v) return string.format("%.2f", v) end

-- lines{path =, title =, xlabel =, ylabel =, series = {{name =, x = {...}, y = {...}}, ...},
--       logy = false, width = 720, height = 450, hlines = {{y =, name =}, ...}} -> the SVG text.
-- When path is given the file is written (through a temporary file and a rename).
function M.lines(spec)
  if type(spec) ~= "table" then fail("argument #1: expected a table {path =, series =, ...}") end
  for k in pairs(spec) do
    if not spec_keys[k] then
      fail("unknown field '%s' (expected path, title, xlabel, ylabel, series, logy, width, height, hlines)", tostring(k))
    end
  end
  local logy = spec.logy == true
  local kept = check_series(spec.series, logy)
  local hlines = spec.hlines or {}
  for i, h in ipairs(hlines) do
    if type(h) ~= "table" or not finite(h.y) or (logy and h.y <= 0) then
      fail("hlines #%d: expected {y = <finite number%s>, name =}", i, logy and " > 0" or "")
    end
  end
  local W, H = spec.width or 720, spec.height or 450
  if not finite(W) or not finite(H) or W < 200 or H < 150 then fail("width and height: expected at least 200 x 150") end

  -- data ranges
  local xmin, xmax, ymin, ymax = math.huge, -math.huge, math.huge, -math.huge
  for _, k in ipairs(kept) do
    for j = 1, #k.xs do
      xmin, xmax = math.min(xmin, k.xs[j]), math.max(xmax, k.xs[j])
      ymin, ymax = math.min(ymin, k.ys[j]), math.max(ymax, k.ys[j])
    end
  end
  for _, h in ipairs(hlines) do ymin, ymax = math.min(ymin, h.y), math.max(ymax, h.y) end
  local xticks, x0, x1 = M.linear_ticks(xmin, xmax, 8, 0.02)
  local yticks, y0, y1
  if logy then yticks, y0, y1 = M.log_ticks(ymin, ymax) else yticks, y0, y1 = M.linear_ticks(ymin, ymax, 6) end

  -- layout: plot area [L, L + pw] x [top, top + ph]
  local L, R, top, bottom = 72, 20, spec.title and 40 or 20, 56
  local pw, ph = W - L - R, H - top - bottom
  local function px(x) return L + (x - x0) / (x1 - x0) * pw end
  local fy = logy and function(v) return math.log(v, 10) end or function(v) return v end
  local fy0, fy1 = fy(y0), fy(y1)
  local function py(y) return top + ph - (fy(y) - fy0) / (fy1 - fy0) * ph end

  local out = {}
  local function add(...) out[#out + 1] = table.concat({...}) end
  add('<?xml version="1.0" encoding="UTF-8"?>\n')
  add('<svg xmlns="http://www.w3.org/2000/svg" width="', W, '" height="', H, '" viewBox="0 0 ', W, ' ', H,
    '" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">\n')
  if spec.title then add('<title>', esc(spec.title), '</title>\n') end
  add('<rect x="0" y="0" width="', W, '" height="', H, '" fill="#ffffff"/>\n')
  add('<defs><clipPath id="plot-area"><rect x="', fmt(L), '" y="', fmt(top), '" width="', fmt(pw), '" height="',
    fmt(ph), '"/></clipPath></defs>\n')
  if spec.title then
    add('<text class="title" x="', fmt(L + pw / 2), '" y="24" text-anchor="middle" font-size="15" font-weight="bold">',
      esc(spec.title), '</text>\n')
  end

  -- grid and ticks
  add('<g class="xticks" text-anchor="middle">\n')
  for _, t in ipairs(xticks) do
    local x = fmt(px(t.value))
    add('<line x1="', x, '" y1="', fmt(top), '" x2="', x, '" y2="', fmt(top + ph), '" stroke="#e5e5e5"/>')
    add('<line x1="', x, '" y1="', fmt(top + ph), '" x2="', x, '" y2="', fmt(top + ph + 5), '" stroke="#333333"/>')
    add('<text class="xtick" x="', x, '" y="', fmt(top + ph + 19), '" data-value="', string.format("%.17g", t.value),
      '">', esc(t.label), '</text>\n')
  end
  add('</g>\n<g class="yticks" text-anchor="end">\n')
  for _, t in ipairs(yticks) do
    local y = fmt(py(t.value))
    add('<line x1="', fmt(L), '" y1="', y, '" x2="', fmt(L + pw), '" y2="', y, '" stroke="#e5e5e5"/>')
    add('<line x1="', fmt(L - 5), '" y1="', y, '" x2="', fmt(L), '" y2="', y, '" stroke="#333333"/>')
    add('<text class="ytick" x="', fmt(L - 8), '" y="', fmt(py(t.value) + 4), '" data-value="',
      string.format("%.17g", t.value), '">', esc(t.label), '</text>\n')
  end
  add('</g>\n')
  add('<rect class="frame" x="', fmt(L), '" y="', fmt(top), '" width="', fmt(pw), '" height="', fmt(ph),
    '" fill="none" stroke="#333333"/>\n')
  if spec.xlabel then
    add('<text class="xlabel" x="', fmt(L + pw / 2), '" y="', fmt(H - 12), '" text-anchor="middle">',
      esc(spec.xlabel), '</text>\n')
  end
  if spec.ylabel then
    add('<text class="ylabel" x="0" y="0" text-anchor="middle" transform="translate(16 ', fmt(top + ph / 2),
      ') rotate(-90)">', esc(spec.ylabel), '</text>\n')
  end

  -- reference lines, then the series
  add('<g clip-path="url(#plot-area)">\n')
  for _, h in ipairs(hlines) do
    local y = fmt(py(h.y))
    add('<line class="hline" x1="', fmt(L), '" y1="', y, '" x2="', fmt(L + pw), '" y2="', y,
      '" stroke="#888888" stroke-dasharray="6 4"/>')
    if h.name then
      add('<text class="hline-label" x="', fmt(L + 6), '" y="', fmt(py(h.y) - 4), '" fill="#666666" font-size="11">',
        esc(h.name), '</text>')
    end
    add('\n')
  end
  for i, k in ipairs(kept) do
    local colour = M.palette[(i - 1) % #M.palette + 1]
    local pts = {}
    for j = 1, #k.xs do pts[j] = fmt(px(k.xs[j])) .. "," .. fmt(py(k.ys[j])) end
    add('<polyline class="series" data-name="', esc(spec.series[i].name), '" points="', table.concat(pts, " "),
      '" fill="none" stroke="', colour, '" stroke-width="1.8" stroke-linejoin="round"/>\n')
    if #k.xs <= MARKER_MAX then
      for j = 1, #k.xs do
        add('<circle cx="', fmt(px(k.xs[j])), '" cy="', fmt(py(k.ys[j])), '" r="3" fill="', colour, '"/>')
      end
      add('\n')
    end
  end
  add('</g>\n')

  -- legend: in the corner of the plot area that covers the fewest bits of line (points sampled
  -- along every segment), top right on ties
  local longest = 0
  for _, s in ipairs(spec.series) do longest = math.max(longest, utf8.len(s.name) or #s.name) end
  local lw, lh = 40 + 7 * longest, 8 + 18 * #spec.series
  local corners = {{L + pw - lw - 8, top + 8}, {L + 8, top + 8}, {L + pw - lw - 8, top + ph - lh - 8},
    {L + 8, top + ph - lh - 8}}
  local samples = {}
  for _, k in ipairs(kept) do
    for j = 1, #k.xs do
      local ax, ay = px(k.xs[j]), py(k.ys[j])
      local bx, by = ax, ay
      if j < #k.xs then bx, by = px(k.xs[j + 1]), py(k.ys[j + 1]) end
      for t = 0, 7 do samples[#samples + 1] = {ax + (bx - ax) * t / 8, ay + (by - ay) * t / 8} end
    end
  end
  local lx, ly, best = corners[1][1], corners[1][2], math.huge
  for _, c in ipairs(corners) do
    local n = 0
    for _, p in ipairs(samples) do
      if p[1] >= c[1] - 4 and p[1] <= c[1] + lw + 4 and p[2] >= c[2] - 4 and p[2] <= c[2] + lh + 4 then n = n + 1 end
    end
    if n < best then lx, ly, best = c[1], c[2], n end
  end
  add('<g class="legend">\n<rect x="', fmt(lx), '" y="', fmt(ly), '" width="', fmt(lw), '" height="', fmt(lh),
    '" fill="#ffffff" fill-opacity="0.85" stroke="#bbbbbb"/>\n')
  for i, s in ipairs(spec.series) do
    local colour = M.palette[(i - 1) % #M.palette + 1]
    local y = ly + 4 + 18 * (i - 1) + 9
    add('<line x1="', fmt(lx + 8), '" y1="', fmt(y), '" x2="', fmt(lx + 30), '" y2="', fmt(y), '" stroke="', colour,
      '" stroke-width="2.5"/>')
    add('<text class="legend-entry" x="', fmt(lx + 36), '" y="', fmt(y + 4), '">', esc(s.name), '</text>\n')
  end
  add('</g>\n</svg>\n')

  local svg = table.concat(out)
  if spec.path then
    if type(spec.path) ~= "string" or spec.path == "" then fail("path: expected a file name") end
    local tmp = spec.path .. ".tmp"
    local f, err = io.open(tmp, "w")
    if not f then fail("cannot write %s: %s", spec.path, tostring(err)) end
    f:write(svg)
    f:close()
    local ok, rerr = os.rename(tmp, spec.path)
    if not ok then
      os.remove(tmp)
      fail("cannot write %s: %s", spec.path, tostring(rerr))
    end
  end
  return svg
end

return M
