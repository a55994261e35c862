#!/bin/bash
# test_recipes.sh — the recipes run end to end through the recx executable, small enough for CI.
#
# least_squares: a short run converges, its result.json has every documented field with
# values that fit the run (checked with lua5.4 + cjson, independently of the recipe); progress
# lines are printed; an unwritable out= and an unknown key fail with clear messages; a run that
# cannot converge fails after writing its result.
#
# Usage: bash test_recipes.sh /path/to/recx   (ctest passes the built binary)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start_test "$@"
cd "$ROOT" || exit 1

# ---- a short run that converges --------------------------------------------------------------
run recipes/least_squares.lua steps=60 n=512 out="$TMP/ls"
if [ "$rc" = 0 ]; then ok "least_squares steps=60 n=512 exits 0"; else not_ok "least_squares exit status $rc"; fi
if [ -f "$TMP/ls/result.json" ]; then ok "result.json written into the out= folder"; else not_ok "no $TMP/ls/result.json"; fi
if grep -qE '^step +60/60 +loss [0-9.e+-]+ .*steps/s +ETA ' "$TMP/out" &&
   [ "$(grep -cE '^step +[0-9]+/60 ' "$TMP/out")" -ge 10 ]; then
    ok "progress lines: step/total, loss, rate, ETA"
else
    not_ok "progress lines missing"
fi
if json_check "$TMP/ls/result.json" "
    recipe name            | r.recipe == 'least_squares'
    version                | type(r.recx_version) == 'string' and #r.recx_version > 0
    steps                  | r.steps == 60
    config echoes overrides| r.config.steps == 60 and r.config.n == 512 and r.config.dim == 64
    config keeps defaults  | r.config.lr == 0.1 and r.config.noise == 0.01 and r.config.seed == 1
    noise floor            | math.abs(r.noise_floor - 1e-4) < 1e-12
    converged flag         | r.converged == true
    final loss near floor  | r.final_loss > 0 and r.final_loss <= 10 * r.noise_floor
    loss fell              | r.initial_loss > 10 and r.final_loss < r.initial_loss / 1e4
    w error small          | r.w_error >= 0 and r.w_error < 0.1 and r.w_error_relative < 0.02
    norm of w* near 8      | r.w_error_relative > 0 and math.abs(r.w_error / r.w_error_relative - 8) < 3
    seconds                | r.seconds >= 0 and r.seconds < 60 and (r.seconds > 0) == (r.steps_per_second ~= null)
    rate (null under 10 ms)| r.steps_per_second == null or r.steps_per_second > 0
    history starts at 0    | r.history[1].step == 0 and r.history[1].loss == r.initial_loss
    history ends at steps  | r.history[#r.history].step == 60 and r.history[#r.history].loss == r.final_loss
    history decreases      | (function() for i = 2, #r.history do if r.history[i].loss > r.history[i-1].loss then return false end end return #r.history >= 10 end)()
"; then ok "result.json fields"; else not_ok "result.json: $(cat "$TMP/check")"; fi

# the same seed gives the same numbers
run recipes/least_squares.lua steps=60 n=512 out="$TMP/ls_again"
if [ "$rc" = 0 ] && json_check "$TMP/ls_again/result.json" "
    same final loss | r.final_loss == $(lua5.4 -e "local c=require'cjson'; local f=io.open('$TMP/ls/result.json'); print(string.format('%.17g', c.decode(f:read('a')).final_loss))")
"; then ok "a second run with the same seed reproduces the loss"; else not_ok "rerun differs: $(cat "$TMP/check")"; fi

# ---- failures ----------------------------------------------------------------------------------
run recipes/least_squares.lua steps=3 out=/proc/recx-no-such/dir
if [ "$rc" = 1 ] && grep -q "cannot create the output folder '/proc/recx-no-such/dir'" "$TMP/err"; then
    ok "an unwritable out= fails with a message naming the folder"
else
    not_ok "unwritable out=: exit $rc"
fi

run recipes/least_squares.lua stpes=3 out="$TMP/typo"
if [ "$rc" = 1 ] && grep -q "unknown key 'stpes'" "$TMP/err" && [ ! -e "$TMP/typo" ]; then
    ok "an unknown key fails before any work"
else
    not_ok "unknown key: exit $rc"
fi

run recipes/least_squares.lua steps=3 n=256 out="$TMP/short"
if [ "$rc" = 1 ] && grep -q "did not converge" "$TMP/err" &&
   json_check "$TMP/short/result.json" "
    not converged flag | r.converged == false and r.steps == 3
"; then
    ok "a run that cannot converge writes its result, then fails"
else
    not_ok "non-converging run: exit $rc"
fi

finish
