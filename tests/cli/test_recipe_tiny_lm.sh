#!/bin/bash
# test_recipe_tiny_lm.sh — recipes/train_tiny_lm.lua end to end through the recx executable.
#
# A 40-step run (steps=40 eval_every=20 ckpt_every=20, the schedule sized for 60 steps) exits 0
# and writes result.json (every field, checked with lua5.4 + cjson independently of the
# recipe), metrics.jsonl (7 lines: train at 10..40, eval at 0, 20, 40), ckpt.safetensors and a
# valid loss.svg; its held-out loss is below the context-blind level log(max_stride). Then
# resume=true steps=60 continues from step 40 (the logged steps go on 50, 60 with nothing
# repeated) and ends with exactly the losses of a straight 60-step run: every metrics loss and
# the final train/eval losses are compared as written (14 significant digits, enough to tell
# apart any two f32 losses); metrics lines written after the checkpoint (a whole one and one cut
# short) are dropped. Ctrl-C (SIGINT) during a run exits 1 naming the checkpoint's step, and a
# resume then logs every step once. Errors: an unknown key, a resume with a different
# configuration (and the schedule-length hint), an unwritable out=.
#
# Usage: bash test_recipe_tiny_lm.sh /path/to/recx   (ctest passes the built binary)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
start_test "$@"
cd "$ROOT" || exit 1
RECIPE=recipes/train_tiny_lm.lua
# The schedule is sized for 60 steps in every run, so that 40 + 20 resumed steps and 60 straight
# steps train with the same learning rates. One thread: the runs' speed then depends little on
# what else the machine runs (ctest -j, other jobs); the test takes about 20 s.
COMMON="decay_steps=60 warmup_steps=5 eval_every=20 ckpt_every=20 threads=1"

ERR_LINES=40 # not_ok shows the end of stderr only

# "kind step loss" for every metrics line, losses as written
losses() {
    lua5.4 - "$1" <<'LUA'
local cjson = require "cjson"
for line in io.lines(arg[1]) do local x = cjson.decode(line); print(x.kind, x.step, string.format("%.17g", x.loss)) end
LUA
}

# ---- a 40-step run -------------------------------------------------------------------------------
run $RECIPE steps=40 $COMMON out="$TMP/a"
if [ "$rc" = 0 ]; then ok "steps=40 exits 0"; else not_ok "steps=40: exit status $rc"; fi
if [ -f "$TMP/a/ckpt.safetensors" ] && [ -f "$TMP/a/result.json" ] && [ -f "$TMP/a/metrics.jsonl" ] &&
   [ -f "$TMP/a/loss.svg" ]; then
    ok "ckpt.safetensors, result.json, metrics.jsonl and loss.svg written"
else
    not_ok "missing files in $TMP/a: $(ls "$TMP/a" 2>&1 | tr '\n' ' ')"
fi
if json_check "$TMP/a/result.json" "$TMP/a/metrics.jsonl" "
    recipe name                 | r.recipe == 'train_tiny_lm' and type(r.recx_version) == 'string'
    steps, not resumed          | r.steps == 40 and r.resumed_from == 0
    config echoes the overrides | r.config.steps == 40 and r.config.eval_every == 20 and r.config.ckpt_every == 20 and r.config.decay_steps == 60
    config keeps the defaults   | r.config.vocab == 64 and r.config.max_stride == 8 and r.config.resume == false
    loss levels                 | math.abs(r.context_blind_loss - math.log(8)) < 1e-12 and math.abs(r.optimal_loss - math.log(8) / 32) < 1e-12 and math.abs(r.uniform_loss - math.log(64)) < 1e-12
    optimal accuracy            | math.abs(r.optimal_accuracy - (31 + 1 / 8) / 32) < 1e-12
    parameters (d=128, 2 layers)| r.parameters == 64*128*2 + 2*(128*128*2 + 128*64*2 + 3*128*256 + 2*128) + 128
    tokens                      | r.tokens == 40 * r.config.batch * r.config.seq_len and r.config.seq_len == 32
    seconds and rate            | r.seconds > 0 and math.abs(r.tokens_per_second - r.tokens / r.seconds) < 1e-6 * r.tokens_per_second
    eval loss < context-blind   | r.final_eval_loss < r.context_blind_loss and r.final_eval_loss > r.optimal_loss
    accuracy in (0.2, 1]        | r.final_eval_accuracy > 0.2 and r.final_eval_accuracy <= 1
    best eval loss              | r.best_eval_loss <= r.final_eval_loss and r.best_eval_loss > 0
    final train loss            | r.final_train_loss > 0 and r.final_train_loss < r.uniform_loss
    files                       | r.files.checkpoint:find('/a/ckpt.safetensors', 1, true) and r.files.metrics:find('metrics.jsonl', 1, true) and r.files.plot:find('loss.svg', 1, true)
    7 metrics lines             | #m == 7
    train lines at 10..40       | steps('train') == '10,20,30,40'
    eval lines at 0, 20, 40     | steps('eval') == '0,20,40'
    train line fields           | m[2].kind == 'train' and m[2].lr > 0 and m[2].grad_norm > 0 and m[2].tokens == 10 * r.config.batch * 32 and m[2].seconds > 0
    eval starts near log 64     | m[1].kind == 'eval' and math.abs(m[1].loss - math.log(64)) < 0.6 and m[1].accuracy < 0.1
    final losses are the last lines | r.final_eval_loss == m[7].loss and r.final_eval_accuracy == m[7].accuracy and r.final_train_loss == m[6].loss
    the loss fell               | m[7].loss < m[3].loss and m[3].loss < m[1].loss
"; then ok "result.json and metrics.jsonl fields"; else not_ok "result/metrics: $(cat "$TMP/check")"; fi
if grep -qE '^train +[0-9]+% \[[#.]+\] [0-9]+/40 [0-9.]+ it/s ETA [0-9]+:[0-9]+ ' "$TMP/err" &&
   grep -qE '^train: 40/40 in [0-9.]+s \([0-9.]+ it/s\) .*eval_loss=' "$TMP/err"; then
    ok "progress lines with rate and ETA, then the summary"
else
    not_ok "progress lines missing"
fi
if grep -q "^train_tiny_lm: step 40: train loss .* eval loss .* eval accuracy" "$TMP/out"; then
    ok "final summary printed"
else
    not_ok "no summary line"
fi
if [ "$(grep -c '<polyline class="series"' "$TMP/a/loss.svg")" = 2 ] && grep -q '>eval (held out)</text>' "$TMP/a/loss.svg"; then
    ok "loss.svg has the train and eval curves"
else
    not_ok "loss.svg curves"
fi
if command -v xmllint > /dev/null; then
    if xmllint --noout "$TMP/a/loss.svg" 2> "$TMP/err"; then ok "loss.svg is valid XML"; else not_ok "xmllint rejects loss.svg"; fi
else
    echo "skip - xmllint not installed (apt-get install libxml2-utils): loss.svg not validated"
fi

# ---- resume to 60, and a straight 60-step run ----------------------------------------------------------
# as if the first run had gone on past its checkpoint and then died in the middle of a line
printf '{"kind":"train","step":45,"loss":9}\n{"kind":"eval","step":50,"lo' >> "$TMP/a/metrics.jsonl"
run $RECIPE steps=60 $COMMON resume=true out="$TMP/a"
if [ "$rc" = 0 ] && grep -q "resuming from $TMP/a/ckpt.safetensors at step 40" "$TMP/out"; then
    ok "resume=true steps=60 continues from step 40"
else
    not_ok "resume: exit $rc"
fi
if json_check "$TMP/a/result.json" "$TMP/a/metrics.jsonl" "
    resumed from 40             | r.resumed_from == 40 and r.steps == 60 and r.tokens == 60 * r.config.batch * 32
    train steps go on           | steps('train') == '10,20,30,40,50,60'
    eval steps go on            | steps('eval') == '0,20,40,60'
"; then ok "logged steps continue from 40; lines written after the checkpoint are dropped"; else not_ok "resumed metrics: $(cat "$TMP/check")"; fi
cp "$TMP/err" "$TMP/resume_err"

run $RECIPE steps=60 warmup_steps=5 eval_every=20 ckpt_every=20 threads=1 out="$TMP/b"
if [ "$rc" = 0 ]; then ok "a straight 60-step run exits 0"; else not_ok "straight 60: exit $rc"; fi
final() {
    lua5.4 - "$1" <<'LUA'
local c = require "cjson"
local f = io.open(arg[1])
local r = c.decode(f:read("a"))
print(string.format("%.17g %.17g %.17g", r.final_train_loss, r.final_eval_loss, r.final_eval_accuracy))
LUA
}
fa=$(final "$TMP/a/result.json")
fb=$(final "$TMP/b/result.json")
if [ -n "$fa" ] && [ "$fa" = "$fb" ]; then
    ok "40 + resumed 20 steps end with the straight run's final losses exactly ($fa)"
else
    not_ok "final losses differ: resumed '$fa', straight '$fb'"
fi
if [ "$(losses "$TMP/a/metrics.jsonl")" = "$(losses "$TMP/b/metrics.jsonl")" ] &&
   [ "$(losses "$TMP/a/metrics.jsonl" | wc -l)" = 10 ]; then
    ok "every logged loss equals the straight run's"
else
    not_ok "metrics differ: $(diff <(losses "$TMP/a/metrics.jsonl") <(losses "$TMP/b/metrics.jsonl"))"
fi

# ---- Ctrl-C, then resume -------------------------------------------------------------------------
"$RECX" $RECIPE steps=400 decay_steps=400 warmup_steps=5 ckpt_every=5 log_every=1 eval_every=1000 threads=1 \
    out="$TMP/i" < /dev/null > "$TMP/out" 2> "$TMP/err" &
pid=$!
for _ in $(seq 300); do [ -f "$TMP/i/ckpt.safetensors" ] && break; sleep 0.1; done
sleep 0.4
kill -INT "$pid"
wait "$pid"
rc=$?
held=$(sed -n 's/.*interrupted during step [0-9]*; .* holds step \([0-9]*\): rerun with resume=true.*/\1/p' "$TMP/err" | head -1)
if [ "$rc" = 1 ] && [ -n "$held" ] && [ $((held % 5)) = 0 ]; then
    ok "SIGINT exits 1 naming the checkpoint's step ($held)"
else
    not_ok "SIGINT: exit $rc"
    held=5
fi
run $RECIPE steps=$((held + 5)) decay_steps=400 warmup_steps=5 ckpt_every=5 log_every=1 eval_every=1000 threads=1 \
    resume=true out="$TMP/i"
want=$(seq -s, 1 $((held + 5)))
if [ "$rc" = 0 ] && json_check "$TMP/i/result.json" "$TMP/i/metrics.jsonl" "
    resumed at the checkpoint   | r.resumed_from == $held
    one line per step, once     | steps('train') == '$want' and steps('eval') == '0,$((held + 5))'
"; then ok "resume after SIGINT: one metrics line per step, none repeated"; else not_ok "resume after SIGINT: exit $rc $(cat "$TMP/check")"; fi

# ---- errors ------------------------------------------------------------------------------------------
run $RECIPE stpes=3 out="$TMP/typo"
if [ "$rc" = 1 ] && grep -q "unknown key 'stpes'" "$TMP/err" && [ ! -e "$TMP/typo" ]; then
    ok "an unknown key exits 1 before any work"
else
    not_ok "unknown key: exit $rc"
fi

run $RECIPE steps=60 $COMMON lr=0.01 resume=true out="$TMP/a"
if [ "$rc" = 1 ] && grep -q "ckpt.safetensors comes from a different configuration: lr=0.003 there, 0.01 now" "$TMP/err"; then
    ok "resuming with a different configuration names the difference"
else
    not_ok "different config: exit $rc"
fi

run $RECIPE steps=80 eval_every=20 ckpt_every=20 warmup_steps=5 threads=1 resume=true out="$TMP/a"
if [ "$rc" = 1 ] && grep -q "decay_steps=60 there, 80 now (decay_steps=0 means steps: pass decay_steps=60" "$TMP/err"; then
    ok "extending without decay_steps explains the schedule length"
else
    not_ok "decay_steps hint: exit $rc"
fi

run $RECIPE steps=100 out=/proc/recx-no-such/dir
if [ "$rc" = 1 ] && grep -q "cannot create the output folder '/proc/recx-no-such/dir'" "$TMP/err"; then
    ok "an unwritable out= fails naming the folder"
else
    not_ok "unwritable out=: exit $rc"
fi

finish
