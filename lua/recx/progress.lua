-- recx.progress — progress bars for long jobs and JSON-lines logs.
--
-- Owns: the bar's text ("train  42% [########.........] 42/100 8.31 it/s ETA 0:07 loss=0.4123"),
-- when it is written, and the final summary line ("train: 100/100 in 12.0s (8.33 it/s)
-- loss=0.1021"). On a terminal the line is redrawn in place (\r) at most every `interval`
-- seconds (and when the job completes); otherwise one full line is written each time the
-- progress crosses another `every_pct` percent (or, without a total, every `interval_notty`
-- seconds), so logs stay readable. Custom fields are shown sorted by name; numbers with 4
-- significant digits.
--
--   local bar = recx.progress.bar({total = steps, label = "train"})
--   for step = 1, steps do ...; bar:step(1, {loss = loss}) end
--   bar:finish()
--
--   local log = recx.progress.jsonl("out/train.jsonl")   -- appends
--   log:write({step = step, loss = loss}); log:close()
local core = require "recx.core"
local cjson = require "cjson"

local P = {}

local function fmt_duration(s)
  if s ~= s or s == math.huge or s < 0 then return "?" end
  s = math.floor(s + 0.5)
  local h, m = s // 3600, (s % 3600) // 60
  if h > 0 then return string.format("%d:%02d:%02d", h, m, s % 60) end
  return string.format("%d:%02d", m, s % 60)
end
P.format_duration = fmt_duration

local function fmt_value(v)
  if math.type(v) == "integer" then return tostring(v) end
  if type(v) == "number" then return string.format("%.4g", v) end
  return tostring(v)
end

local function fmt_rate(r)
  if r >= 100 then return string.format("%.0f", r) end
  if r >= 1 then return string.format("%.2f", r) end
  return string.format("%.3g", r)
end

-- Whether the stream is a terminal: io.stdout and io.stderr are checked through the shell's
-- `test -t` on their descriptors (inherited by the child); any other stream is not.
local function is_tty(out)
  local fd = out == io.stdout and 1 or out == io.stderr and 2 or nil
  if not fd then return false end
  return os.execute("test -t " .. fd) == true
end

local Bar = {}
Bar.__index = Bar

local bar_keys = {total = true, label = true, out = true, tty = true, interval = true, every_pct = true,
  interval_notty = true, width = true, clock = true}

-- bar({total =, label = "", out = io.stderr, tty = <detected>, interval = 0.1, every_pct = 10,
--      interval_notty = 10, width = 30, clock = recx.clock}) -> bar. total may be nil (unknown).
function P.bar(opts)
  opts = opts or {}
  for k in pairs(opts) do
    if not bar_keys[k] then error("progress.bar: unknown option '" .. tostring(k) .. "'", 2) end
  end
  if opts.total ~= nil and (type(opts.total) ~= "number" or opts.total < 0) then
    error("progress.bar: total: expected a number >= 0 or nil, got " .. tostring(opts.total), 2)
  end
  local out = opts.out or io.stderr
  local tty = opts.tty
  if tty == nil then tty = is_tty(out) end
  local clock = opts.clock or core.clock
  local now = clock()
  return setmetatable({
    total = opts.total, label = opts.label or "", out = out, tty = tty, interval = opts.interval or 0.1,
    every_pct = opts.every_pct or 10, interval_notty = opts.interval_notty or 10, width = opts.width or 30,
    clock = clock, start = now, last_draw = -math.huge, last_len = 0, next_pct = opts.every_pct or 10,
    current = 0, fields = {}, finished = false,
  }, Bar)
end

local function fields_text(fields)
  local keys = {}
  for k in pairs(fields) do keys[#keys + 1] = k end
  table.sort(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = k .. "=" .. fmt_value(fields[k]) end
  return table.concat(parts, " ")
end

-- The bar's current text (without \r or newline).
function Bar:text(now)
  now = now or self.clock()
  local elapsed = now - self.start
  local rate = elapsed > 0 and self.current / elapsed or 0
  local parts = {}
  if self.label ~= "" then parts[#parts + 1] = self.label end
  if self.total and self.total > 0 then
    local frac = math.min(1, self.current / self.total)
    local filled = math.floor(frac * self.width + 1e-9)
    parts[#parts + 1] = string.format("%3d%%", math.floor(frac * 100 + 1e-9))
    parts[#parts + 1] = "[" .. string.rep("#", filled) .. string.rep(".", self.width - filled) .. "]"
    parts[#parts + 1] = fmt_value(self.current) .. "/" .. fmt_value(self.total)
  else
    parts[#parts + 1] = fmt_value(self.current)
  end
  parts[#parts + 1] = fmt_rate(rate) .. " it/s"
  if self.total and self.total > 0 then
    local eta = rate > 0 and (self.total - self.current) / rate or math.huge
    parts[#parts + 1] = "ETA " .. fmt_duration(math.max(0, eta))
  end
  local f = fields_text(self.fields)
  if f ~= "" then parts[#parts + 1] = f end
  return table.concat(parts, " ")
end

function Bar:draw(now)
  local line = self:text(now)
  if self.tty then
    local pad = math.max(0, self.last_len - #line)
    self.out:write("\r", line, string.rep(" ", pad))
    self.last_len = #line
  else
    self.out:write(line, "\n")
  end
  if self.out.flush then self.out:flush() end
  self.last_draw = now
end

-- Sets the position to `current` (and merges `fields` into the shown fields); draws when due.
function Bar:update(current, fields)
  if type(current) ~= "number" then error("progress: update: argument #1: expected a number, got " .. type(current), 2) end
  self.current = current
  if fields then
    for k, v in pairs(fields) do self.fields[k] = v end
  end
  local now = self.clock()
  local done = self.total and self.current >= self.total
  if self.tty then
    if done or now - self.last_draw >= self.interval then self:draw(now) end
  elseif self.total and self.total > 0 then
    local pct = 100 * self.current / self.total
    if pct >= self.next_pct then
      while self.next_pct <= pct do self.next_pct = self.next_pct + self.every_pct end
      self:draw(now)
    end
  elseif now - math.max(self.last_draw, self.start) >= self.interval_notty then
    self:draw(now)
  end
  return self
end

-- Advances by n (default 1).
function Bar:step(n, fields)
  if type(n) == "table" then n, fields = nil, n end
  return self:update(self.current + (n or 1), fields)
end

-- The summary line: "<label>: <current>[/<total>] in <time> (<rate> it/s) <fields>".
function Bar:summary(now)
  now = now or self.clock()
  local elapsed = now - self.start
  local rate = elapsed > 0 and self.current / elapsed or 0
  local count = fmt_value(self.current) .. (self.total and ("/" .. fmt_value(self.total)) or "")
  local time = elapsed < 60 and string.format("%.1fs", elapsed) or fmt_duration(elapsed)
  local line = string.format("%s%s in %s (%s it/s)", self.label ~= "" and (self.label .. ": ") or "", count, time,
    fmt_rate(rate))
  local f = fields_text(self.fields)
  if f ~= "" then line = line .. " " .. f end
  return line
end

-- Writes the summary line (replacing the bar on a terminal); returns it. Idempotent.
function Bar:finish(fields)
  if self.finished then return self.final end
  if fields then
    for k, v in pairs(fields) do self.fields[k] = v end
  end
  local line = self:summary()
  if self.tty then
    self.out:write("\r", line, string.rep(" ", math.max(0, self.last_len - #line)), "\n")
  else
    self.out:write(line, "\n")
  end
  if self.out.flush then self.out:flush() end
  self.finished, self.final = true, line
  return line
end

-- ---- JSON lines ----------------------------------------------------------------------------------

local Log = {}
Log.__index = Log

-- jsonl(path [, {truncate = false}]) -> log: log:write(table) appends one JSON object and a
-- newline, flushed at once (a crash loses nothing written). NaN and infinities become null.
function P.jsonl(path, opts)
  if type(path) ~= "string" then error("progress.jsonl: argument #1: expected a file path", 2) end
  local f, err = io.open(path, (opts and opts.truncate) and "w" or "a")
  if not f then error("progress.jsonl: " .. tostring(err), 2) end
  local enc = cjson.new()
  enc.encode_invalid_numbers("null")
  enc.encode_sparse_array(true)
  return setmetatable({f = f, enc = enc, path = path}, Log)
end

function Log:write(record)
  if type(record) ~= "table" then error("jsonl: write: argument #1: expected a table, got " .. type(record), 2) end
  if not self.f then error("jsonl: write: the log " .. self.path .. " was closed", 2) end
  self.f:write(self.enc.encode(record), "\n")
  self.f:flush()
  return self
end

function Log:close()
  if self.f then self.f:close() end
  self.f = nil
end
Log.__close = Log.close
Log.__gc = Log.close

return P
