#!/bin/bash
# test_repl_tty.sh — the recx REPL in a real terminal (a detached tmux session): Tab
# completion of fields (recx.ten<Tab>), globals and methods after ':', Ctrl-C at the prompt
# clearing the line, Ctrl-C interrupting `while true do end`, the REPL running the next
# statement, history kept in ~/.recx_history, and Ctrl-D exiting with status 0.
# Skipped (exit 0, with a visible line) when tmux is not installed.
#
# Usage: bash test_repl_tty.sh /path/to/recx   (ctest passes the built binary)
RECX=${1:?usage: bash test_repl_tty.sh /path/to/recx}
if ! command -v tmux > /dev/null; then
    echo "skipped: tmux not installed"
    exit 0
fi
RECX=$(cd "$(dirname "$RECX")" && pwd)/$(basename "$RECX")
TMP=$(mktemp -d)
SOCK=$TMP/tmux.sock
TMUX_CMD=(tmux -S "$SOCK" -f /dev/null)
cleanup() {
    "${TMUX_CMD[@]}" kill-server 2> /dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
unset TMUX

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
    failed=$((failed + 1))
    echo "FAIL - $1"
    echo "  --- screen:"; screen | sed 's/^/  | /'
}

# screen: the pane's text, scrollback included.
screen() { "${TMUX_CMD[@]}" capture-pane -p -J -S -200 -t recx 2> /dev/null; }
# keys KEY...: tmux send-keys, then a short pause so each batch is read on its own.
keys() { "${TMUX_CMD[@]}" send-keys -t recx "$@"; sleep 0.3; }
# wait_screen PATTERN [N]: waits (10 s at most) until N (default 1) screen lines match.
wait_screen() {
    local want=${2:-1}
    for _ in $(seq 100); do
        [ "$(screen | grep -cE -- "$1")" -ge "$want" ] && return 0
        sleep 0.1
    done
    return 1
}
expect() { if wait_screen "$2" "${3:-1}"; then ok "$1"; else not_ok "$1: no /$2/"; fi; }
# prompt_count: how many prompts the screen shows, so a test can wait for the next one.
prompt_count() { screen | grep -cE '^recx> '; }

# The pane runs recx, then reports its exit status and stays open for the last capture.
HOME=$TMP "${TMUX_CMD[@]}" new-session -d -s recx -x 120 -y 50 \
    "env HOME='$TMP' '$RECX'; echo \"recx-exit=\$?\"; sleep 60"
expect "REPL starts in a terminal" '^recx> '

keys 'recx.ten' Tab
expect "recx.ten<Tab> completes to recx.tensor" '^recx> recx\.tensor'
keys C-c
expect "Ctrl-C at the prompt clears the line" '^recx> recx\.tensor.*\^C$'

keys 'collectg' Tab
expect "a global completes" '^recx> collectgarbage'
keys C-c
keys 's = "abc"' Enter
keys 'n = s:upp' Tab
keys '()' Enter
keys 'print(n .. "!")' Enter
expect "a method completes after ':'" '^ABC!$'

keys 'print("never printed")'
keys C-c
keys 'print("after clear")' Enter
expect "the line after Ctrl-C runs" '^after clear$'
if screen | grep -qE '^never printed$'; then not_ok "a cleared line does not run"; else ok "a cleared line does not run"; fi

before=$(prompt_count)
keys 'while true do end' Enter
sleep 0.7
keys C-c
expect "Ctrl-C interrupts a running loop" 'interrupted!'
wait_screen '^recx> ' $((before + 1))
keys 'print(40+2)' Enter
expect "the REPL goes on after the interrupt" '^42$'

keys 'for i = 1, 2 do' Enter
expect "continuation prompt" '^  \.\.\.> '
keys 'print("iteration " .. i)' Enter 'end' Enter
expect "multi-line statement in a terminal" '^iteration 2$'

keys C-d
expect "Ctrl-D exits with status 0" '^recx-exit=0$'

if grep -qxF 'print(40+2)' "$TMP/.recx_history"; then ok "history is written to ~/.recx_history"; else
    failed=$((failed + 1)); echo "FAIL - history: ~/.recx_history lacks print(40+2)"; fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
