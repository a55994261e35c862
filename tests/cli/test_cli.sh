#!/bin/bash
# test_cli.sh — the recx executable's command line: --version, --help, exit codes (0 success,
# 1 Lua error, 2 usage error), -e, scripts from files and stdin, `arg` and `...`, key=value
# overrides through recx.config (types, unknown keys, mistyped values), RECX_LUA_PATH,
# require "cjson", -i, SIGINT in a script, and error objects that are not strings.
#
# Usage: bash test_cli.sh /path/to/recx   (ctest passes the built binary)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start_test "$@"
cd "$TMP" || exit 1
export HOME=$TMP # never touch the real ~/.recx_history

# run (lib.sh) with a 20 s timeout and stdin from $TMP/in
: > "$TMP/in"
RUN_TIMEOUT=20
RUN_STDIN=$TMP/in
# check NAME EXPECTED_RC [out|err PATTERN (grep -E)]...: asserts the last run.
check() {
    local name=$1 want=$2
    shift 2
    if [ "$rc" != "$want" ]; then not_ok "$name: exit status $rc, expected $want"; return; fi
    while [ $# -gt 0 ]; do
        if ! grep -qE -- "$2" "$TMP/$1"; then not_ok "$name: $1 lacks /$2/"; return; fi
        shift 2
    done
    ok "$name"
}
# check_absent NAME out|err PATTERN: asserts that the last run did not print the pattern.
check_absent() {
    if grep -qE -- "$3" "$TMP/$2"; then not_ok "$1: $2 has /$3/"; else ok "$1"; fi
}

# ---- version and help --------------------------------------------------------------------
run --version
check "--version" 0 out '^recx [0-9]+\.[0-9]+\.[0-9]+ \(Lua 5\.4\.[0-9]+, OpenBLAS [0-9][^,]*, CUDA (on|off)\)$'
run -v
check "-v" 0 out '^recx [0-9.]+ \(Lua'
run --help
check "--help" 0 out '^usage: recx \[options\] \[script \[key=value \.\.\.\]\]' out 'Tab' out 'Ctrl-C' \
    out 'Ctrl-D' out 'recx_history' out 'RECX_LUA_PATH' out 'not a terminal'
run -h
check "-h" 0 out '^usage: recx'

# ---- usage errors exit 2 with a hint -------------------------------------------------------
run -x
check "unknown option" 2 err "unknown option '-x'" err '^usage: recx' err "recx --help"
run --frobnicate
check "unknown long option" 2 err "unknown option '--frobnicate'"
run -e
check "-e without code" 2 err "'-e' needs an argument" err '^usage: recx'
run does_not_exist.lua steps=3
check "missing script" 2 err 'cannot open does_not_exist\.lua' err '^usage: recx'
mkdir -p "$TMP/adir"
run "$TMP/adir"
check "directory as script" 2 err 'cannot read' err '^usage: recx'

# ---- -e ------------------------------------------------------------------------------------
run -e 'print(1 + 2)'
check "-e prints" 0 out '^3$'
run -e 'x = 20' -e 'print(x + 22)'
check "-e chunks run in order" 0 out '^42$'
run -e'print("attached")'
check "-eCODE" 0 out '^attached$'
run -e 'print(type(recx), type(recx.config))'
check "-e sees the global recx" 0 out '^table	function$'
run -e 'error("boom")'
check "-e error exits 1" 1 err 'boom' err 'stack traceback'
run -e 'print("first")' -e 'error("second fails")' -e 'print("never")'
check "-e stops at the first error" 1 out '^first$' err 'second fails'
check_absent "-e later chunks do not run" out never
run -e 'x = = 1'
check "-e syntax error exits 1" 1 err 'unexpected symbol'
run -e 'error({})'
check "error object of another type" 1 err 'error object is a table value'
run -e 'error(setmetatable({}, { __tostring = function() return "custom error text" end }))'
check "error object with __tostring" 1 err 'custom error text'
run -e 'local c = require "cjson"; print(c.encode({ a = 1 }), c.decode("[1,2,3]")[3])'
check "require cjson" 0 out '^\{"a":1\}	3(\.0)?$'
run -e 'os.exit(3)'
check "os.exit status passes through" 3

# ---- scripts -------------------------------------------------------------------------------
cat > "$TMP/args.lua" <<'EOF'
print("arg0", arg[0])
print("arg1", arg[1], "arg2", arg[2], "n", #arg)
print("dots", select("#", ...), ...)
print("neg", arg[-1], arg[-2])
print("cli_args", table.concat(require("recx.config").cli_args, ","))
EOF
run -e 'y = 1' "$TMP/args.lua" a=1 b=two
check "arg and ... of a script" 0 out "^arg0	$TMP/args.lua$" out '^arg1	a=1	arg2	b=two	n	2$' \
    out '^dots	2	a=1	b=two$' out '^neg	y = 1	-e$' out '^cli_args	a=1,b=two$'
run -- "$TMP/args.lua" x=1
check "-- ends options" 0 out '^arg1	x=1	arg2	nil	n	1$' out '^neg	--	'
run "$TMP/args.lua"
check "a script without arguments" 0 out '^dots	0$' out '^cli_args	$'

printf 'print("from stdin", ...)\nprint(arg[0])\n' > "$TMP/in"
run - k=v
check "script from stdin" 0 out '^from stdin	k=v$' out '^-$'
: > "$TMP/in"

cat > "$TMP/fails.lua" <<'EOF'
local function inner()
  error("kaboom at depth")
end
local function outer() inner() end
print("before the error")
outer()
EOF
run "$TMP/fails.lua"
check "script error exits 1" 1 out '^before the error$' err 'fails\.lua:2: kaboom at depth' \
    err '^stack traceback:' err 'fails\.lua:[0-9]+: in (local|upvalue|function)' \
    err 'fails\.lua:6: in main chunk'

printf 'print("unterminated\n' > "$TMP/syntax.lua"
run "$TMP/syntax.lua"
check "script syntax error exits 1" 1 err 'syntax\.lua:1: unfinished string'

# ---- key=value through recx.config -----------------------------------------------------------
cat > "$TMP/recipe.lua" <<'EOF'
local recx = require "recx"
local cfg = recx.config { steps = 1000, lr = 1e-4, flag = false, name = "x", device = "cpu" }
for _, k in ipairs { "steps", "lr", "flag", "name", "device" } do
  local v = cfg[k]
  print(k, string.format("%q", v), type(v), math.type(v) or "-")
end
EOF
run "$TMP/recipe.lua" steps=200 lr=3e-4 flag=true name=abc
check "overrides are typed" 0 out '^steps	200	number	integer$' out '^lr	0x1\.3a92a30553261p-12	number	float$' \
    out '^flag	true	boolean	-$' out '^name	"abc"	string	-$' out '^device	"cpu"	string	-$'
run "$TMP/recipe.lua"
check "defaults without overrides" 0 out '^steps	1000	number	integer$' out '^flag	false	boolean	-$' \
    out '^name	"x"	string	-$'
run "$TMP/recipe.lua" name=123 device=cuda:1
check "a numeric-looking string stays a string" 0 out '^name	"123"	string	-$' out '^device	"cuda:1"	string	-$'
run "$TMP/recipe.lua" lr=1
check "an integer is accepted for a float" 0 out '^lr	1	number	integer$'
run "$TMP/recipe.lua" stepz=5
check "unknown key exits 1 naming it" 1 err "unknown key 'stepz'" err 'steps'
run "$TMP/recipe.lua" steps=abc
check "mistyped value exits 1" 1 err 'steps=abc' err 'expected a number'
run "$TMP/recipe.lua" steps=2.5
check "float for an integer exits 1" 1 err 'steps=2\.5' err 'integer'
run "$TMP/recipe.lua" flag=yes
check "non-boolean for a boolean exits 1" 1 err 'flag=yes' err 'true or false'
run "$TMP/recipe.lua" notapair
check "an argument that is not key=value exits 1" 1 err "'notapair'" err 'key=value'

# ---- package.path --------------------------------------------------------------------------
mkdir -p "$TMP/mods/pkg" "$TMP/tmpl"
echo 'return { x = "from dir" }' > "$TMP/mods/mymod.lua"
echo 'return { y = "from init" }' > "$TMP/mods/pkg/init.lua"
echo 'return { z = "from template" }' > "$TMP/tmpl/other.lua"
RECX_LUA_PATH="$TMP/mods;$TMP/tmpl/?.lua" run -e 'print(require("mymod").x, require("pkg").y, require("other").z)'
check "RECX_LUA_PATH directories and templates" 0 out '^from dir	from init	from template$'
echo 'return { version = "shadowed" }' > "$TMP/mods/recx.lua"
RECX_LUA_PATH="$TMP/mods" run -e 'print(recx.version)'
check "RECX_LUA_PATH comes first" 0 out '^shadowed$'
run -e 'print(package.searchpath("recx.config", package.path))'
check "recx's lua/ is on package.path from any directory" 0 out 'lua/recx/config\.lua$'

# ---- -i enters the REPL after the code -----------------------------------------------------
printf 'print(x * 2)\n' > "$TMP/in"
run -e 'x = 21' -i
check "-i after -e" 0 out '42$' out '^recx> '
: > "$TMP/in"

# ---- SIGINT in a script --------------------------------------------------------------------
cat > "$TMP/spin.lua" <<'EOF'
print("spinning")
io.stdout:flush()
local n = 0
while true do n = n + 1 end
EOF
# start_spin: runs spin.lua in the background and waits until it spins. No timeout(1) around
# recx: it forwards a signal itself, to the child and again to its group; a watchdog kills a
# hung recx instead.
start_spin() {
    "$RECX" "$TMP/spin.lua" > "$TMP/out" 2> "$TMP/err" &
    pid=$!
    watchdog "$pid" 60
    for _ in $(seq 200); do grep -q spinning "$TMP/out" && break; sleep 0.05; done
}
stop_watchdog() { kill "$watchdog" 2> /dev/null; wait "$watchdog" 2> /dev/null; }
start_spin
kill -INT "$pid"
wait "$pid"
rc=$?
stop_watchdog
check "SIGINT interrupts a script (exit 1)" 1 err 'interrupted!' err 'spin\.lua:4: in main chunk'
start_spin
kill -INT "$pid"; kill -INT "$pid"; kill -INT "$pid"
wait "$pid"
rc=$?
stop_watchdog
check "SIGINTs in a burst count as one interrupt" 1 err 'interrupted!'

# A C call that never returns cannot honour the interrupt: a SIGINT 2 s or more after the first
# ends recx by SIGINT (status 130). The C call is a tiny module that spins in luaopen_.
if command -v cc > /dev/null; then
    printf 'volatile long spins;\nint luaopen_stuck(void *L) { (void)L; for (;;) spins++; }\n' > "$TMP/stuck.c"
    cc -shared -fPIC -o "$TMP/stuck.so" "$TMP/stuck.c"
    printf 'print("spinning")\nio.stdout:flush()\nrequire "stuck"\n' > "$TMP/spin.lua"
    LUA_CPATH="$TMP/?.so" start_spin
    kill -INT "$pid"
    sleep 0.5
    alive_after_first=no
    kill -0 "$pid" 2> /dev/null && alive_after_first=yes
    kill -INT "$pid"
    sleep 2.2
    kill -INT "$pid"
    wait "$pid"
    rc=$?
    stop_watchdog
    if [ "$alive_after_first" = yes ]; then
        check "a SIGINT 2 s after an unhonoured one ends recx" 130
    else
        rc=dead; check "a stuck C call survives the first SIGINT" alive
    fi
else
    echo "skipped: no C compiler for the stuck-C-call test"
fi

finish
