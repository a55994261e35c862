#!/usr/bin/env bash
# train_step.sh [BUILD_DIR] [PYTHON] — one CPU training step (forward + backward + AdamW) of a
# small Llama-style LM in recx and in PyTorch, back to back, same shapes, same thread count.
#
# Owns: running tests/bench/bench_train_step.lua (recx) and tests/bench/bench_train_step.py
# (PyTorch) with 2 threads each (OMP_NUM_THREADS=2, recx.num_threads(2), torch.set_num_threads(2)),
# printing a table and writing out/bench/train_step.json:
#   {"benchmark": "train_step", "date", "machine": {"cpu", "nproc", "load_1min_before",
#    "load_1min_after"}, "command",
#    "recx": {...}, "torch": {...}, "ratio": torch step seconds / recx step seconds}
# where "recx" and "torch" are the two scripts' JSON objects (config, step_seconds = median over
# samples, tokens_per_second, ...). ratio >= 1 means recx is at least as fast (the goal).
# THREADS=n in the environment changes the thread count of both sides (default 2).
# Not part of ctest: timings need a quiet machine. Defaults: BUILD_DIR=build,
# PYTHON=/opt/refenv/bin/python (torch installed there). Extra settings for both sides go in
# the environment as BENCH_ARGS="key=value ..." (e.g. BENCH_ARGS="repeats=15 batch=4"); each
# key=value is passed to the Lua script as is and to the Python script as --key value.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${1:-build}
PYTHON=${2:-/opt/refenv/bin/python}
case "$BUILD_DIR" in
    /*) ;;
    *) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac
cd "$ROOT"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j2 --target recx_cli >/dev/null

THREADS=${THREADS:-2}
export OMP_NUM_THREADS=$THREADS
LUA_ARGS=(threads=$THREADS)
PY_ARGS=(--threads $THREADS)
for kv in ${BENCH_ARGS:-}; do
    LUA_ARGS+=("$kv")
    PY_ARGS+=("--${kv%%=*}" "${kv#*=}")
done
PY_ARGS=("${PY_ARGS[@]//_/-}")

mkdir -p out/bench
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
DATE=$(date -u)
CPU=$(lscpu | sed -n 's/^Model name: *//p')
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "== $DATE on $(nproc --all) cores: $CPU; 1-min load before: $LOAD_BEFORE"
if awk "BEGIN { exit !($LOAD_BEFORE >= 0.5) }"; then
    echo "warning: the machine is busy (load $LOAD_BEFORE): timings will be noisy; recx's OpenMP and" \
         "OpenBLAS threads suffer most from sharing cores" >&2
fi
"$BUILD_DIR/bin/recx" tests/bench/bench_train_step.lua "${LUA_ARGS[@]}" json="$TMP/recx.json"
"$PYTHON" tests/bench/bench_train_step.py "${PY_ARGS[@]}" --json "$TMP/torch.json"
LOAD=$(cut -d' ' -f1 /proc/loadavg)
# the command as run, with the settings from the environment that change what was measured
COMMAND="bash tests/bench/train_step.sh ${1:-build}${2:+ $2}"
for var in BENCH_ARGS OMP_WAIT_POLICY GOMP_SPINCOUNT OPENBLAS_THREAD_TIMEOUT LD_LIBRARY_PATH; do
    [ -n "${!var:-}" ] && COMMAND="$var=\"${!var}\" $COMMAND"
done
[ "$THREADS" != 2 ] && COMMAND="THREADS=$THREADS $COMMAND"

"$PYTHON" - "$TMP/recx.json" "$TMP/torch.json" out/bench/train_step.json "$DATE" "$CPU" "$(nproc --all)" "$LOAD_BEFORE" "$LOAD" \
    "$COMMAND" <<'EOF'
import json, sys
recx_path, torch_path, out_path, date, cpu, nproc, load_before, load, command = sys.argv[1:]
rx = json.load(open(recx_path))
pt = json.load(open(torch_path))
if rx["config"] != pt["config"]:
    raise SystemExit(f"train_step.sh: the two sides ran different shapes: {rx['config']} vs {pt['config']}")
ratio = pt["step_seconds"] / rx["step_seconds"]
out = {"benchmark": "train_step", "date": date,
       "machine": {"cpu": cpu, "nproc": int(nproc), "load_1min_before": float(load_before),
                   "load_1min_after": float(load)},
       "command": command, "recx": rx, "torch": pt, "ratio": ratio}
with open(out_path, "w") as f:
    json.dump(out, f, indent=1)
    f.write("\n")
c = rx["config"]
print(f"model: V={c['vocab']} C={c['channels']} layers={c['layers']} H={c['heads']} G={c['kv_heads']} "
      f"D={c['head_dim']} hidden={c['hidden']} B={c['batch']} T={c['seq']} f32, {rx['params']} parameters")
print(f"threads {rx['threads']} (recx) / {pt['threads']} (torch); median of {rx['repeats']} samples of "
      f"{rx['steps_per_sample']} steps after {rx['warmup']} warm-up steps; 1-min load before {load_before}, "
      f"after {load}")
print()
print("| impl | version | step ms (median) | min | max | forward ms | backward ms | AdamW ms | tokens/s |")
print("|---|---|---|---|---|---|---|---|---|")
for name, r in (("recx", rx), ("torch", pt)):
    print(f"| {name} | {r['version']} | {1e3 * r['step_seconds']:.1f} | {1e3 * r['step_seconds_min']:.1f} | "
          f"{1e3 * r['step_seconds_max']:.1f} | {1e3 * r['forward_seconds']:.1f} | {1e3 * r['backward_seconds']:.1f} | "
          f"{1e3 * r['optimizer_seconds']:.1f} | {r['tokens_per_second']:.0f} |")
print()
print(f"recx/torch speed ratio (torch time / recx time): {ratio:.3f} (goal >= 1.0)")
print(f"wrote {out_path}")
EOF
