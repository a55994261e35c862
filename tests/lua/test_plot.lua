-- test_plot.lua — recx.plot: the SVG line chart, read back with patterns.
--
-- Checked: one <polyline> per series holding exactly its finite points (NaN, infinities and,
-- on a log axis, values <= 0 skipped); every point lands where the axis ticks say it should
-- (the mapping is rebuilt here from two tick positions, linear or log10); ticks strictly
-- increasing with round steps (1, 2, 2.5 or 5 times a power of ten) and labels that read back
-- as their values; axis labels, title and one legend entry per series present; & < > escaped;
-- distinct colours; the file equals the returned text and passes `xmllint --noout` (skipped
-- with a message when xmllint is absent); bad input is an error naming the series.
local T = require "harness"
local plot = require "recx.plot"

local function tmpfile(suffix)
  local p = os.tmpname()
  os.remove(p)
  return p .. suffix
end

-- {name =, stroke =, points = {{x, y}, ...}} for every series polyline
local function polylines(svg)
  local out = {}
  for attrs in svg:gmatch("<polyline ([^>]*)/>") do
    local pts = {}
    for x, y in attrs:match('points="([^"]*)"'):gmatch("([%-%d%.]+),([%-%d%.]+)") do
      pts[#pts + 1] = {tonumber(x), tonumber(y)}
    end
    out[#out + 1] = {name = attrs:match('data%-name="([^"]*)"'), stroke = attrs:match('stroke="([^"]*)"'), points = pts}
  end
  return out
end

-- {{pos =, value =, label =}, ...} of the x ("xtick") or y ("ytick") tick labels
local function ticks(svg, class)
  local out = {}
  local pat = '<text class="' .. class .. '" x="([%-%d%.]+)" y="([%-%d%.]+)" data%-value="([^"]+)">([^<]*)</text>'
  for x, y, v, label in svg:gmatch(pat) do
    out[#out + 1] = {pos = class == "xtick" and tonumber(x) or tonumber(y) - 4, value = tonumber(v), label = label}
  end
  return out
end

local function frame(svg)
  local x, y, w, h = svg:match('<rect class="frame" x="([%d%.]+)" y="([%d%.]+)" width="([%d%.]+)" height="([%d%.]+)"')
  return tonumber(x), tonumber(y), tonumber(w), tonumber(h)
end

-- Checks ticks: at least 2, values strictly increasing, pixel positions strictly moving the
-- axis's way, labels reading back as the values, equal round steps on a linear axis.
local function check_ticks(list, what, increasing_pos, linear)
  T.ok(#list >= 2, what .. ": at least two ticks, got " .. #list)
  for i = 2, #list do
    T.ok(list[i].value > list[i - 1].value, string.format("%s: values increase at tick %d", what, i))
    local d = list[i].pos - list[i - 1].pos
    T.ok(increasing_pos and d > 0 or (not increasing_pos and d < 0),
      string.format("%s: positions move at tick %d", what, i))
  end
  for _, t in ipairs(list) do
    T.near(tonumber(t.label), t.value, 1e-9, what .. ": label '" .. t.label .. "' reads as its value")
  end
  if linear and #list >= 2 then
    local step = list[2].value - list[1].value
    for i = 3, #list do T.near(list[i].value - list[i - 1].value, step, 1e-9, what .. ": equal steps") end
    local m = step / 10 ^ math.floor(math.log(step, 10) + 1e-12)
    local round = false
    for _, r in ipairs({1, 2, 2.5, 5, 10}) do if math.abs(m - r) < 1e-9 then round = true end end
    T.ok(round, string.format("%s: step %g is 1, 2, 2.5 or 5 x 10^k", what, step))
    T.near(list[1].value / step, math.floor(list[1].value / step + 0.5), 1e-9,
      what .. ": ticks are multiples of the step")
  end
end

-- The pixel position of value v on an axis, from its first and last tick (f: identity or log10).
local function axis_map(list, f)
  local a, b = list[1], list[#list]
  return function(v) return a.pos + (f(v) - f(a.value)) * (b.pos - a.pos) / (f(b.value) - f(a.value)) end
end

local function xmllint(path)
  if not os.execute("command -v xmllint > /dev/null 2>&1") then
    print("  skip: xmllint not installed (apt-get install libxml2-utils): the SVG was not validated")
    return
  end
  T.ok(os.execute("xmllint --noout " .. path), "xmllint --noout accepts " .. path)
end

local nan, inf = 0 / 0, math.huge

T.case("linear chart: polylines, points, mapping, ticks, labels, legend, escaping", function()
  local path = tmpfile(".svg")
  local xa, ya = {}, {}
  for i = 1, 50 do xa[i] = i * 3; ya[i] = math.sin(i / 7) * 40 + 5 end
  ya[10], ya[20], xa[30] = nan, inf, -inf                     -- 3 points skipped
  local series = {
    {name = "train & <valid>", x = xa, y = ya},
    {name = "eval", x = {10, 60, 110, 150}, y = {-12.5, 3, 30.25, 44}},
    {name = "one point", x = {75}, y = {0}},
  }
  local svg = plot.lines{path = path, title = "loss < 1 & \"quoted\"", xlabel = "step <n>", ylabel = "value & more",
    series = series}
  local f = assert(io.open(path))
  T.eq(f:read("a"), svg, "the file holds the returned text")
  f:close()
  xmllint(path)

  local lines = polylines(svg)
  T.eq(#lines, 3, "one polyline per series")
  T.eq({#lines[1].points, #lines[2].points, #lines[3].points}, {47, 4, 1}, "finite points only")
  T.eq(lines[1].name, "train &amp; &lt;valid&gt;", "series name escaped")
  T.ok(lines[1].stroke ~= lines[2].stroke and lines[2].stroke ~= lines[3].stroke and lines[1].stroke ~= lines[3].stroke,
    "distinct colours")

  T.ok(svg:find("<title>loss &lt; 1 &amp; &quot;quoted&quot;</title>", 1, true) ~= nil, "title escaped")
  T.ok(not svg:find("loss < 1", 1, true) and not svg:find("& \"", 1, true), "no raw < or & from the title")
  T.ok(svg:find('class="xlabel"[^>]*>step &lt;n&gt;</text>') ~= nil, "x label present and escaped")
  T.ok(svg:find('class="ylabel"[^>]*>value &amp; more</text>') ~= nil, "y label present and escaped")
  local legend = {}
  for name in svg:gmatch('<text class="legend%-entry"[^>]*>([^<]*)</text>') do legend[#legend + 1] = name end
  T.eq(legend, {"train &amp; &lt;valid&gt;", "eval", "one point"}, "a legend entry per series, in order")

  local xt, yt = ticks(svg, "xtick"), ticks(svg, "ytick")
  check_ticks(xt, "x ticks", true, true)
  check_ticks(yt, "y ticks", false, true)
  -- every point where the ticks say (to the 0.01 px the file is written with)
  local fx, fy = axis_map(xt, function(v) return v end), axis_map(yt, function(v) return v end)
  local fxl, fyl, fw, fh = frame(svg)
  local kept = {}
  for i = 1, 50 do
    if ya[i] == ya[i] and ya[i] ~= inf and xa[i] ~= -inf then kept[#kept + 1] = {xa[i], ya[i]} end
  end
  local worst = 0
  for j, p in ipairs(lines[1].points) do
    worst = math.max(worst, math.abs(p[1] - fx(kept[j][1])), math.abs(p[2] - fy(kept[j][2])))
  end
  for j, p in ipairs(lines[2].points) do
    worst = math.max(worst, math.abs(p[1] - fx(series[2].x[j])), math.abs(p[2] - fy(series[2].y[j])))
  end
  T.ok(worst < 0.02, string.format("points at their tick-derived positions (worst %.4f px)", worst))
  local inside = true
  for _, l in ipairs(lines) do
    for _, p in ipairs(l.points) do
      if p[1] < fxl - 0.01 or p[1] > fxl + fw + 0.01 or p[2] < fyl - 0.01 or p[2] > fyl + fh + 0.01 then
        inside = false
      end
    end
  end
  T.ok(inside, "every point inside the plot frame")
  -- the data range lies inside the tick range widened by one step, and ticks inside the frame
  local xmin, xmax = 3, 150
  T.ok(xt[1].value <= xmin + (xt[2].value - xt[1].value) and xt[#xt].value >= xmax - (xt[2].value - xt[1].value),
    "x ticks span the data")
  T.ok(xt[1].pos >= fxl - 0.01 and xt[#xt].pos <= fxl + fw + 0.01, "x ticks inside the frame")
  os.remove(path)
end)

T.case("log y axis: non-positive values skipped, 1-2-5 ticks, log mapping", function()
  local x, y = {}, {}
  for i = 1, 100 do x[i] = i; y[i] = 4 * math.exp(-i / 15) + 0.05 end
  y[3], y[4] = 0, -1
  local svg = plot.lines{title = "log", xlabel = "step", ylabel = "loss", logy = true,
    series = {{name = "train", x = x, y = y}, {name = "eval", x = {1, 50, 100}, y = {3, 0.2, 0.06}}},
    hlines = {{y = 0.04, name = "floor"}}}
  local lines = polylines(svg)
  T.eq(#lines, 2)
  T.eq(#lines[1].points, 98, "y <= 0 skipped on a log axis")
  T.eq(#lines[2].points, 3)
  local yt = ticks(svg, "ytick")
  check_ticks(yt, "log y ticks", false, false)
  for _, t in ipairs(yt) do
    local m = t.value / 10 ^ math.floor(math.log(t.value, 10) + 1e-9)
    T.ok(math.abs(m - 1) < 1e-9 or math.abs(m - 2) < 1e-9 or math.abs(m - 5) < 1e-9,
      "tick " .. t.label .. " is 1, 2 or 5 x 10^k")
  end
  T.ok(yt[1].value <= 0.05 and yt[#yt].value >= 2, "ticks cover 0.04 (the hline) .. 4")
  local fy = axis_map(yt, function(v) return math.log(v, 10) end)
  local worst = 0
  for j, p in ipairs(lines[2].points) do worst = math.max(worst, math.abs(p[2] - fy(({3, 0.2, 0.06})[j]))) end
  T.ok(worst < 0.02, string.format("log10 mapping (worst %.4f px)", worst))
  T.ok(svg:find('class="hline"') ~= nil and svg:find(">floor</text>", 1, true) ~= nil, "the reference line and its name")
end)

T.case("degenerate ranges still give increasing ticks", function()
  local svg = plot.lines{series = {{name = "flat", x = {5, 5, 5}, y = {2, 2, 2}}}}
  check_ticks(ticks(svg, "xtick"), "one x value", true, true)
  check_ticks(ticks(svg, "ytick"), "one y value", false, true)
  local svg2 = plot.lines{logy = true, series = {{name = "narrow", x = {0, 1}, y = {0.071, 0.0712}}}}
  check_ticks(ticks(svg2, "ytick"), "narrow log range", false, false)
  T.eq(#polylines(svg2)[1].points, 2)
end)

T.case("errors name what is wrong", function()
  T.raises("series: expected a non-empty list", plot.lines, {series = {}})
  T.raises("series: expected a non-empty list", plot.lines, {})
  T.raises("series #2 'b' is empty", plot.lines,
    {series = {{name = "a", x = {1}, y = {1}}, {name = "b", x = {}, y = {}}}})
  T.raises("series #1 'a': x has 2 values but y has 1", plot.lines, {series = {{name = "a", x = {1, 2}, y = {1}}}})
  T.raises("series #1 'a' has no finite points", plot.lines, {series = {{name = "a", x = {1, 2}, y = {nan, inf}}}})
  T.raises("has no finite points with y > 0 (logy)", plot.lines,
    {logy = true, series = {{name = "a", x = {1}, y = {0}}}})
  T.raises("series #1: name: expected a string", plot.lines, {series = {{x = {1}, y = {1}}}})
  T.raises("point 2: expected numbers, got number and string", plot.lines,
    {series = {{name = "a", x = {1, 2}, y = {1, "2"}}}})
  T.raises("unknown field 'colour'", plot.lines, {colour = "red", series = {{name = "a", x = {1}, y = {1}}}})
  T.raises("hlines #1", plot.lines, {logy = true, hlines = {{y = -1}}, series = {{name = "a", x = {1}, y = {1}}}})
  T.raises("cannot write /proc/no-such-dir/x.svg", plot.lines,
    {path = "/proc/no-such-dir/x.svg", series = {{name = "a", x = {1}, y = {1}}}})
end)

T.case("escape", function()
  T.eq(plot.escape([[a<b & c>"d" 'e']]), "a&lt;b &amp; c&gt;&quot;d&quot; &#39;e&#39;")
end)

T.done()
