-- test_train_progress.lua — recx.progress: the bar's text, redraw throttling on a terminal,
-- one line per N% otherwise, the summary line, and the JSON-lines log. A fake clock and a fake
-- stream make every output exact.
local T = require "harness"
local recx = require "recx"
local progress = recx.progress
local cjson = require "cjson"

local function fake()
  local s = {chunks = {}}
  function s:write(...)
    for _, c in ipairs({...}) do self.chunks[#self.chunks + 1] = c end
    return self
  end
  function s:flush() end
  function s:text() return table.concat(self.chunks) end
  return s
end

local function clock_at(t) return function() return t.now end end

T.case("text: percent, bar, count, rate, ETA, sorted fields", function()
  local t = {now = 100}
  local bar = progress.bar({total = 200, label = "train", out = fake(), tty = false, width = 10, clock = clock_at(t)})
  t.now = 110
  bar.current = 50
  bar.fields = {loss = 0.123456, lr = 3e-4, epoch = 2}
  T.eq(bar:text(), "train  25% [##........] 50/200 5.00 it/s ETA 0:30 epoch=2 loss=0.1235 lr=0.0003")
  bar.current = 200
  T.eq(bar:text(), "train 100% [##########] 200/200 20.00 it/s ETA 0:00 epoch=2 loss=0.1235 lr=0.0003")
  local unknown = progress.bar({out = fake(), tty = false, clock = clock_at(t)})
  t.now = 112
  unknown.current = 30
  T.eq(unknown:text(), "30 15.00 it/s", "30 items in 2 s")
  T.eq(progress.format_duration(3725), "1:02:05")
  T.eq(progress.format_duration(59.6), "1:00")
end)

T.case("not a terminal: one line per 10%, then the summary", function()
  local t = {now = 0}
  local out = fake()
  local bar = progress.bar({total = 50, label = "eval", out = out, tty = false, width = 4, clock = clock_at(t)})
  for i = 1, 50 do
    t.now = i * 0.5
    bar:step(1, {acc = i / 50})
  end
  local lines = {}
  for line in out:text():gmatch("[^\n]+") do lines[#lines + 1] = line end
  T.eq(#lines, 10, "ten lines for 10% steps")
  T.eq(lines[1], "eval  10% [....] 5/50 2.00 it/s ETA 0:23 acc=0.1")
  T.eq(lines[10], "eval 100% [####] 50/50 2.00 it/s ETA 0:00 acc=1")
  local summary = bar:finish({acc = 0.98})
  T.eq(summary, "eval: 50/50 in 25.0s (2.00 it/s) acc=0.98")
  T.ok(out:text():sub(-#summary - 1) == summary .. "\n", "the summary is the last line")
  T.eq(bar:finish(), summary, "finish is idempotent")
  local before = #out.chunks
  bar:finish()
  T.eq(#out.chunks, before, "and writes once")
end)

T.case("a terminal: redrawn in place at most every 0.1 s, padded over longer lines", function()
  local t = {now = 0}
  local out = fake()
  local bar = progress.bar({total = 1000, out = out, tty = true, width = 2, clock = clock_at(t)})
  local draws = 0
  for i = 1, 1000 do
    t.now = i * 0.001 -- 1000 updates over one second
    local n = #out.chunks
    bar:update(i, i == 1 and {note = "a longer first field"} or {note = "x"})
    if #out.chunks > n then draws = draws + 1 end
  end
  T.ok(draws >= 9 and draws <= 11, "about ten redraws in one second, got " .. draws)
  local text = out:text()
  T.ok(not text:find("\n"), "no newline while running")
  T.eq(text:sub(1, 1), "\r")
  local last = text:match("\r([^\r]*)$")
  T.ok(last:find("^100%% %[##%] 1000/1000"), "the final state was drawn: " .. last)
  bar:finish()
  T.ok(out:text():sub(-1) == "\n", "finish ends the line")
end)

T.case("options are checked", function()
  T.raises("unknown option 'totl'", progress.bar, {totl = 3})
  T.raises("total: expected a number >= 0 or nil", progress.bar, {total = -1})
end)

T.case("jsonl appends one object per line; NaN becomes null", function()
  local path = os.tmpname()
  local log = progress.jsonl(path, {truncate = true})
  log:write({step = 1, loss = 0.5})
  log:write({step = 2, loss = 0 / 0, tags = {"a", "b"}})
  log:close()
  local again = progress.jsonl(path)
  again:write({step = 3})
  again:close()
  T.raises("was closed", again.write, again, {step = 4})
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = cjson.decode(line) end
  os.remove(path)
  T.eq(#lines, 3)
  T.eq(lines[1].loss, 0.5)
  T.eq(lines[2].loss, cjson.null)
  T.eq(lines[2].tags, {"a", "b"})
  T.eq(lines[3].step, 3.0)
end)

T.done()
