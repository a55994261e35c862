#!/bin/bash
# test_repl.sh — drives the recx REPL through a pipe (a fifo: stdin is not a terminal, so the
# REPL reads plain lines and still prints its "recx> " / "  ...> " prompts). Covers: the
# banner, `=expr`, bare expressions with several values, __tostring in printed values,
# multi-line statements, runtime and syntax errors that leave the REPL running, a failing
# __tostring, SIGINT while a statement runs (interrupted, then the next statement runs),
# SIGINT while waiting for input (the pending continuation is dropped, the REPL survives),
# the preloaded global `recx`, and end of input exiting 0.
#
# Usage: bash test_repl.sh /path/to/recx   (ctest passes the built binary)
source "$(dirname "${BASH_SOURCE[0]}")/../cli/lib.sh"
RECX=${1:?usage: bash test_repl.sh /path/to/recx}
TMP=$(mktemp -d)
OUT=$TMP/out
pid=
watchdog=
cleanup() {
    exec 3>&- 2> /dev/null
    [ -n "$pid" ] && kill -KILL "$pid" 2> /dev/null
    [ -n "$watchdog" ] && kill "$watchdog" 2> /dev/null && wait "$watchdog"
    rm -rf "$TMP"
}
trap cleanup EXIT
export HOME=$TMP

# not_ok NAME: a failure, with the REPL's output so far
not_ok() {
    fail "$1"
    echo "  --- output so far:"; sed 's/^/  | /' "$OUT"
}

# send LINE: one line to the REPL's stdin.
send() { printf '%s\n' "$1" >&3; }
# count PATTERN: how many output lines match (grep -E).
count() { grep -cE -- "$1" "$OUT"; }
# wait_for PATTERN [N]: waits (10 s at most) until N (default 1) output lines match.
wait_for() {
    local want=${2:-1}
    for _ in $(seq 200); do
        [ "$(count "$1")" -ge "$want" ] && return 0
        sleep 0.05
    done
    return 1
}
# expect NAME PATTERN [N]: the test passes when PATTERN appears (N times).
expect() { if wait_for "$2" "${3:-1}"; then ok "$1"; else not_ok "$1: no /$2/"; fi; }

mkfifo "$TMP/in"
# No timeout(1) around recx: it would forward SIGINT itself (to the child, then to its group).
# A watchdog kills a hung REPL instead.
"$RECX" < "$TMP/in" > "$OUT" 2>&1 &
pid=$!
watchdog "$pid" 120
exec 3> "$TMP/in"

expect "banner names recx and Lua" '^recx [0-9.]+ \(Lua 5\.4'
expect "first prompt" '^recx> $'

send '=1+2'
expect "=expr prints its value" '^recx> 3$'
send '=1, 2, "three"'
expect "=expr prints all values" '^recx> 1	2	three$'
send 'string.rep("ab", 3)'
expect "a bare expression prints" '^recx> ababab$'
send 'math.max(4, 9), nil, false'
expect "nil and false print too" '^recx> 9	nil	false$'
send 'setmetatable({}, { __tostring = function() return "pretty object" end })'
expect "values print through __tostring" '^recx> pretty object$'
send 'x = 41'
send '=x + 1'
expect "statements run, globals persist" '^recx> recx> 42$'

send 'for i = 1, 2 do'
expect "an unfinished statement asks for more" '^recx>   \.\.\.> $'
send '  print("loop " .. i)'
send 'end'
expect "multi-line statement runs" '^loop 2$'
expect "multi-line statement prints every iteration" '^(recx>   \.\.\.>   \.\.\.> )?loop 1$'
send '(1 +'
send ' 2) * 7'
expect "a multi-line expression prints" '21$'

send 'error("x marks the spot")'
expect "runtime error is reported" 'stdin:1: x marks the spot'
expect "runtime error has a traceback" '^stack traceback:'
send 'print("after error")'
expect "REPL continues after an error" 'after error$'

send 'x = = 1'
expect "syntax error is reported" "unexpected symbol near '='"
send 'print("after syntax error")'
expect "REPL continues after a syntax error" 'after syntax error$'

send 'setmetatable({}, { __tostring = function() error("tostring broke") end })'
expect "a failing __tostring is reported" 'tostring broke'
send 'print("after tostring error")'
expect "REPL continues after a failing __tostring" 'after tostring error$'

send '=type(recx), type(recx.config)'
expect "the global recx is preloaded" 'table	function$'

# SIGINT while a statement runs: the hook raises "interrupted!" and the REPL goes on.
send 'print("spinning") while true do end'
wait_for '^recx> spinning$'
for _ in 1 2 3 4 5; do
    kill -INT "$pid"
    wait_for 'interrupted!' && break
done
expect "SIGINT interrupts a running statement" 'interrupted!'
send 'print("alive")'
expect "the REPL runs the next statement after an interrupt" 'alive$'

# SIGINT while reading: a pending continuation is dropped, nothing dies.
send 'for i = 1, 3 do'
wait_for '  \.\.\.> $'
kill -INT "$pid"
sleep 0.3
send 'print("fresh line")'
expect "SIGINT at the prompt drops the pending lines" 'fresh line$'
if kill -0 "$pid" 2> /dev/null; then ok "SIGINT at the prompt leaves the REPL running"; else not_ok "REPL died on SIGINT at the prompt"; fi

exec 3>&-
wait "$pid"
rc=$?
pid=
if [ "$rc" -eq 0 ]; then ok "end of input exits 0"; else not_ok "end of input: exit status $rc"; fi

finish
