# lib.sh — helpers shared by the shell tests of the recx executable: tests/cli/test_*.sh and
# tests/repl/test_*.sh source it (ctest runs only the test_*.sh files).
#
# Owns: the test's start (start_test: the recx binary and a scratch folder), the pass/fail
# counters and the closing summary (ok, fail, not_ok, finish), running recx with its output
# captured (run), a watchdog for recx processes run in the background, and checks of a run's
# JSON output written in Lua (json_check).

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd) # the checkout

# start_test "$@": RECX = the absolute path of the recx binary given as the test's first
# argument (the test exits with a usage line without it), TMP = a scratch folder removed at exit.
start_test() {
    RECX=${1:?usage: bash $(basename "$0") /path/to/recx}
    RECX=$(cd "$(dirname "$RECX")" && pwd)/$(basename "$RECX")
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT
}

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
fail() { failed=$((failed + 1)); echo "FAIL - $1"; }
# not_ok NAME: a failure shown with the last run's stdout and stderr (only the last ERR_LINES
# lines of stderr when ERR_LINES is set). Tests that do not use run define their own.
not_ok() {
    fail "$1"
    echo "  --- stdout:"; sed 's/^/  | /' "$TMP/out"
    echo "  --- stderr:"
    if [ -n "${ERR_LINES:-}" ]; then
        sed 's/^/  | /' "$TMP/err" | tail -"$ERR_LINES"
    else
        sed 's/^/  | /' "$TMP/err"
    fi
}
# finish: prints the totals; its status (the test's, as its last command) is 0 when none failed.
finish() {
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

# run ARGS...: runs recx with a timeout of RUN_TIMEOUT seconds (default 120), stdin from
# RUN_STDIN (default /dev/null); sets $rc, $TMP/out and $TMP/err.
run() {
    timeout "${RUN_TIMEOUT:-120}" "$RECX" "$@" < "${RUN_STDIN:-/dev/null}" > "$TMP/out" 2> "$TMP/err"
    rc=$?
}

# watchdog PID SECONDS: kills PID with SIGKILL after SECONDS; sets $watchdog. Killing the
# watchdog (SIGTERM) also ends its sleep, so no process is left holding the test's output.
watchdog() {
    (
        trap 'kill "$s" 2> /dev/null; exit 0' TERM
        sleep "$2" & s=$!
        wait "$s" && kill -KILL "$1"
    ) > /dev/null 2>&1 &
    watchdog=$!
}

# json_check RESULT [METRICS] CHECKS: each line of CHECKS is "description | Lua boolean
# expression" over `r` (the decoded JSON file RESULT) and `m` (the list of decoded lines of the
# JSON-lines file METRICS, empty without it); `null` is JSON null and steps(kind) lists the
# steps of m's records of that kind ("10,20,30"). Checked with lua5.4 and cjson, independently
# of recx; writes a FAIL line per false check into $TMP/check and returns non-zero on any.
json_check() {
    local checks=${!#} result=$1 metrics=
    [ $# -gt 2 ] && metrics=$2
    lua5.4 - "$result" "$metrics" > "$TMP/check" 2>&1 <<LUA
local cjson = require "cjson"
null = cjson.null
local function read(p) local f = assert(io.open(p)); local t = f:read("a"); f:close(); return t end
local ok, r = pcall(cjson.decode, read(arg[1]))
if not ok then print("FAIL " .. arg[1]:match("[^/]*$") .. " is not JSON: " .. tostring(r)) os.exit(1) end
local m = {}
if arg[2] ~= "" then
  for line in read(arg[2]):gmatch("[^\n]+") do m[#m + 1] = cjson.decode(line) end
end
function steps(kind) -- "10,20,30" (JSON numbers decode as floats)
  local s = {}
  for _, x in ipairs(m) do if x.kind == kind then s[#s + 1] = string.format("%d", x.step) end end
  return table.concat(s, ",")
end
local bad = 0
for line in ([==[$checks]==]):gmatch("[^\n]+") do
  local what, expr = line:match("^%s*(.-)%s*|%s*(.+)$")
  local fn = assert(load("local r, m = ...; return " .. expr))
  local okc, res = pcall(fn, r, m)
  if not (okc and res) then
    bad = bad + 1
    print("FAIL " .. what .. ": " .. expr .. (okc and "" or (" (" .. tostring(res) .. ")")))
  end
end
os.exit(bad == 0 and 0 or 1)
LUA
}
