#!/usr/bin/env bash
# rec_peer.sh — SASRec (SPEC 3.1) trained by recx and by UniRec, the reference's own trainer
# (issue #6 "Benchmark"), on the same prepared Games data with the same hyperparameters, one after
# the other in one command; prints a side-by-side table and writes JSON.
#
#   bash tests/bench/rec_peer.sh [--device cpu|cuda] [--build DIR] [--threads N] [--epochs N]
#        [--data DIR] [--out DIR] [--python PY] [--num-workers N] [--only recx|unirec]
#
# Defaults: --device cpu; --build build (cpu) or build-gpu (cuda); --threads 2 (cpu) or nproc
# (cuda); --epochs 100 (both stop early); --data OUT/data; --out out/rec_peer; --python
# /opt/unirecenv/bin/python when it exists, else python3; --num-workers: run_unirec.py's default
# (0 on cpu, 6 on cuda as RecExplainer's script).
#
# Steps:
# 1. Data: when DATA holds no train.tsv, `recx recipes/prepare_data.lua source=games2018
#    out_dir=DATA` makes it from ../shared/data/amazon-games-2018 (SPEC 2; leave-one-out split).
#    Both sides read these files: recx its sequential_data.txt, UniRec the tsv files through
#    tests/bench/unirec/convert.py.
# 2. recx: `recx recipes/train_recommender.lua model=sasrec device=DEVICE threads=N` into
#    OUT/recx_DEVICE (metrics.jsonl, result.json); the CPU build is made (Release, CUDA off)
#    when BUILD has no bin/recx; a CUDA build must exist or is made with -DRECX_CUDA=ON.
# 3. UniRec: tests/bench/unirec/run_unirec.py (its header lists every adaptation) into
#    OUT/unirec_DEVICE and OUT/unirec_DEVICE.json. When PY cannot import unirec and out/whl holds
#    unirec-*.whl (tests/bench/unirec/wheels.sh), the wheel is installed with --no-deps into a
#    temporary folder first (the GPU machine).
# 4. OUT/rec_peer_DEVICE.json: {"benchmark": "rec_peer", "date", "device", "machine": {"cpu",
#    "nproc", "load_1min_before", "load_1min_after", "gpu"}, "command", "threads",
#    "recx": {"epoch_seconds" (median of train_seconds), "epoch_seconds_min", "epoch_seconds_max",
#    "eval_seconds", "epochs_trained", "best_epoch", "early_stopped", "test": {metrics},
#    "wall_seconds", "result": result.json}, "unirec": run_unirec.py's JSON, "speedup" (UniRec
#    epoch seconds / recx epoch seconds: > 1 means recx is faster), "ndcg10_diff" (recx - UniRec),
#    "ndcg10_noise" (2 standard errors of that difference, from the bound Var <= m (1 - m) of a
#    per-user value in [0, 1] with mean m, over the test users)}.
#    When $OUT is set (the device machine), the JSON files and a tarball of the logs are copied there.
#
# Epoch time = the training pass over train.tsv's rows, data loading included, evaluation and
# checkpointing excluded, for both (UniRec: its own "epoch N training [time]" figure). Not part of
# ctest: timings need a quiet machine (the 1-minute load is printed and recorded).
#
# GPU machine (no Lua, cJSON, readline or PCRE2 headers there): carry build-gpu-deps (made by
# tests/gpu/fetch_deps.sh), out/whl (tests/bench/unirec/wheels.sh) and OUT/data (../shared does not
# travel), e.g. `bash tests/bench/rec_peer.sh --device cuda` with carry [build-gpu-deps, out/whl,
# out/rec_peer/data]; the packages are unpacked into build-gpu-deps/root as tests/gpu/run.sh does.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"

DEVICE=cpu BUILD="" THREADS="" EPOCHS=100 DATA="" OUTDIR=out/rec_peer PYTHON="" WORKERS="" ONLY=""
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --build) BUILD=$2; shift 2 ;;
        --threads) THREADS=$2; shift 2 ;;
        --epochs) EPOCHS=$2; shift 2 ;;
        --data) DATA=$2; shift 2 ;;
        --out) OUTDIR=$2; shift 2 ;;
        --python) PYTHON=$2; shift 2 ;;
        --num-workers) WORKERS=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        -h|--help) usage ;;
        *) echo "rec_peer.sh: unknown argument '$1'" >&2; usage ;;
    esac
done
case "$DEVICE" in cpu|cuda) ;; *) echo "rec_peer.sh: --device $DEVICE: expected cpu or cuda" >&2; exit 2 ;; esac
case "$ONLY" in ""|recx|unirec) ;; *) echo "rec_peer.sh: --only $ONLY: expected recx or unirec" >&2; exit 2 ;; esac
abs() { case "$1" in /*) echo "$1" ;; *) echo "$ROOT/$1" ;; esac; }
OUTDIR=$(abs "$OUTDIR")
DATA=$(abs "${DATA:-$OUTDIR/data}")
if [ -z "$BUILD" ]; then
    if [ "$DEVICE" = cuda ]; then BUILD=build-gpu; else BUILD=build; fi
fi
BUILD=$(abs "$BUILD")
if [ -z "$THREADS" ]; then
    if [ "$DEVICE" = cuda ]; then THREADS=$(nproc); else THREADS=2; fi
fi
if [ -z "$PYTHON" ]; then
    if [ -x /opt/unirecenv/bin/python ]; then PYTHON=/opt/unirecenv/bin/python; else PYTHON=python3; fi
fi
export OMP_NUM_THREADS=$THREADS
mkdir -p "$OUTDIR"

# Lua, cJSON, readline and PCRE2 from build-gpu-deps/debs where the system has none (the GPU image),
# unpacked and exported the way tests/gpu/run.sh does.
deps_env() {
    pkg-config --exists lua5.4 readline libcjson libpcre2-8 zlib 2>/dev/null && return 0
    local debs="$ROOT/build-gpu-deps/debs" root="$ROOT/build-gpu-deps/root"
    if ! ls "$debs"/*.deb >/dev/null 2>&1; then
        echo "rec_peer.sh: no lua5.4/readline/libcjson/libpcre2-8 here and $debs holds no packages:" \
             "run tests/gpu/fetch_deps.sh on the development machine and carry build-gpu-deps" >&2
        return 1
    fi
    if [ ! -d "$root/usr" ]; then
        mkdir -p "$root"
        for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$root" || return 1; done
        find "$root" -type l -lname '/*' | while read -r l; do ln -sfn "$root$(readlink "$l")" "$l"; done
        sed -i -e "s|=/usr|=$root/usr|g" -e "s|-L/usr/|-L$root/usr/|g" "$root"/usr/lib/x86_64-linux-gnu/pkgconfig/*.pc
    fi
    export PKG_CONFIG_PATH="$root/usr/lib/x86_64-linux-gnu/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PATH="$root/usr/bin:$PATH"
    export CPATH="$root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}"
    export LUA_CPATH="$root/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;"
}

RECX="$BUILD/bin/recx"
need_recx=1
[ "$ONLY" = unirec ] && [ -f "$DATA/train.tsv" ] && need_recx=0
if [ $need_recx -eq 1 ]; then
    deps_env || exit 1
    if [ ! -x "$RECX" ]; then
        cuda=OFF
        [ "$DEVICE" = cuda ] && cuda=ON
        echo "== building recx into $BUILD (Release, RECX_CUDA=$cuda)"
        cmake -S "$ROOT" -B "$BUILD" -DRECX_CUDA=$cuda -DCMAKE_BUILD_TYPE=Release >"$OUTDIR/configure.log" 2>&1 &&
            cmake --build "$BUILD" -j"$(nproc)" --target recx_cli >"$OUTDIR/build.log" 2>&1 ||
            { echo "rec_peer.sh: the build failed; see $OUTDIR/configure.log and build.log" >&2; tail -20 "$OUTDIR/build.log" >&2; exit 1; }
    fi
fi

DATE=$(date -u)
CPU=$(lscpu | sed -n 's/^Model name: *//p')
GPU=""
[ "$DEVICE" = cuda ] && GPU=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
LOAD_BEFORE=$(cut -d' ' -f1 /proc/loadavg)
echo "== $DATE; $(nproc --all) cores: $CPU${GPU:+; GPU: $GPU}; device $DEVICE, $THREADS threads; 1-min load $LOAD_BEFORE"
if [ "$DEVICE" = cpu ] && awk "BEGIN { exit !($LOAD_BEFORE >= 1.0) }"; then
    echo "warning: the machine is busy (load $LOAD_BEFORE): CPU timings will be noisy" >&2
fi

if [ ! -f "$DATA/train.tsv" ]; then
    echo "== preparing the data into $DATA"
    "$RECX" recipes/prepare_data.lua source=games2018 out_dir="$DATA" progress=false || exit 1
fi
for f in sequential_data.txt train.tsv valid.tsv test.tsv user_history.tsv; do
    [ -f "$DATA/$f" ] || { echo "rec_peer.sh: $DATA/$f is missing" >&2; exit 1; }
done

RECX_OUT="$OUTDIR/recx_$DEVICE"
if [ "$ONLY" != unirec ]; then
    echo "== recx: SASRec on $DEVICE"
    "$RECX" recipes/train_recommender.lua model=sasrec data_dir="$DATA" out_dir="$RECX_OUT" device="$DEVICE" \
        threads="$THREADS" epochs="$EPOCHS" 2>&1 | tee "$OUTDIR/recx_$DEVICE.log" | grep -v "^epoch [0-9]*/[0-9]* " || true
    [ -f "$RECX_OUT/result.json" ] || { echo "rec_peer.sh: recx wrote no $RECX_OUT/result.json" >&2; exit 1; }
fi

UNIREC_JSON="$OUTDIR/unirec_$DEVICE.json"
if [ "$ONLY" != recx ]; then
    if ! "$PYTHON" -c "import unirec" 2>/dev/null; then
        whl=$(ls "$ROOT"/out/whl/unirec-*.whl 2>/dev/null | head -1)
        if [ -z "$whl" ]; then
            echo "rec_peer.sh: $PYTHON has no unirec and out/whl holds no unirec wheel (tests/bench/unirec/wheels.sh)" >&2
            exit 1
        fi
        SITE=$(mktemp -d)
        trap 'rm -rf "$SITE"' EXIT
        "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$whl" || exit 1
        export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    fi
    echo "== UniRec: SASRec on $DEVICE ($PYTHON)"
    rm -rf "$OUTDIR/unirec_$DEVICE"
    PYTHONUNBUFFERED=1 "$PYTHON" tests/bench/unirec/run_unirec.py --data "$DATA" --work "$OUTDIR/unirec_$DEVICE" \
        --json "$UNIREC_JSON" --device "$DEVICE" --threads "$THREADS" --epochs "$EPOCHS" \
        ${WORKERS:+--num-workers "$WORKERS"} >"$OUTDIR/unirec_$DEVICE.log" 2>&1
    rc=$?
    grep -E "epoch [0-9]+ (training|evaluating)|run_unirec.py:|Error|error" "$OUTDIR/unirec_$DEVICE.log" | tail -200
    [ $rc -eq 0 ] || { echo "rec_peer.sh: UniRec failed (rc $rc); see $OUTDIR/unirec_$DEVICE.log" >&2; tail -30 "$OUTDIR/unirec_$DEVICE.log" >&2; exit 1; }
fi

LOAD_AFTER=$(cut -d' ' -f1 /proc/loadavg)
COMMAND="bash tests/bench/rec_peer.sh --device $DEVICE --threads $THREADS --epochs $EPOCHS${WORKERS:+ --num-workers $WORKERS}"
python3 - "$OUTDIR" "$DEVICE" "$DATE" "$CPU" "$(nproc --all)" "$LOAD_BEFORE" "$LOAD_AFTER" "$GPU" "$COMMAND" "$THREADS" \
    "$RECX_OUT" "$UNIREC_JSON" <<'EOF'
import json, math, os, statistics, sys
out, device, date, cpu, nproc, load0, load1, gpu, command, threads, recx_dir, unirec_json = sys.argv[1:]

def recx_side():
    path = os.path.join(recx_dir, "result.json")
    if not os.path.exists(path):
        return None
    res = json.load(open(path))
    epochs = [json.loads(l) for l in open(os.path.join(recx_dir, "metrics.jsonl")) if l.strip()]
    times = [e["train_seconds"] for e in epochs]
    best = res.get("best") or {}
    return {"epoch_seconds": statistics.median(times), "epoch_seconds_min": min(times),
            "epoch_seconds_max": max(times),
            "eval_seconds": statistics.median(e["seconds"] - e["train_seconds"] for e in epochs),
            "epochs_trained": res["epochs_run"], "best_epoch": res["best_epoch"],
            "early_stopped": res["early_stopped"], "wall_seconds": res["seconds"],
            "test": {k: v for k, v in best.items() if "@" in k}, "result": res}

rx = recx_side()
ur = json.load(open(unirec_json)) if os.path.exists(unirec_json) else None
n_test = ur["test_rows"] if ur else None
report = {"benchmark": "rec_peer", "date": date, "device": device,
          "machine": {"cpu": cpu, "nproc": int(nproc), "load_1min_before": float(load0),
                      "load_1min_after": float(load1), "gpu": gpu or None},
          "command": command, "threads": int(threads), "recx": rx, "unirec": ur}
if rx and ur:
    report["speedup"] = ur["epoch_seconds"] / rx["epoch_seconds"]
    a, b = rx["test"]["ndcg@10"], ur["test"]["ndcg@10"]
    report["ndcg10_diff"] = a - b
    report["ndcg10_noise"] = 2 * math.sqrt((a * (1 - a) + b * (1 - b)) / n_test)
path = os.path.join(out, f"rec_peer_{device}.json")
with open(path, "w") as f:
    json.dump(report, f, indent=1)
    f.write("\n")

print(f"\nSASRec (dim 256, 2 layers, 16 heads, batch 2048, full softmax) on {device}"
      f"{' (' + gpu + ')' if gpu else ''}, {threads} threads; 1-min load {load0} -> {load1}")
print("\n| impl | epoch s (median) | min | max | eval s | epochs trained | best epoch | NDCG@10 | HR@10 | MRR@10 |")
print("|---|---|---|---|---|---|---|---|---|---|")
for name, r in (("recx", rx), ("UniRec " + (ur or {}).get("version", ""), ur)):
    if not r:
        continue
    t = r["test"]
    print(f"| {name} | {r['epoch_seconds']:.3f} | {r['epoch_seconds_min']:.3f} | {r['epoch_seconds_max']:.3f} | "
          f"{r['eval_seconds']:.3f} | {r['epochs_trained']} | {r['best_epoch']} | {t['ndcg@10']:.4f} | "
          f"{t['hit@10']:.4f} | {t['mrr@10']:.4f} |")
if "speedup" in report:
    goal = 3.0 if device == "cuda" else 1.0
    print(f"\nspeed-up (UniRec epoch s / recx epoch s): {report['speedup']:.2f}x (goal >= {goal:g}x)")
    print(f"NDCG@10 recx - UniRec: {report['ndcg10_diff']:+.4f} (2 s.e. of the difference <= "
          f"{report['ndcg10_noise']:.4f} over {n_test} test users)")
print(f"wrote {path}")
EOF
rc=$?
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    cp "$OUTDIR/rec_peer_$DEVICE.json" "$OUT/" 2>/dev/null
    tar -czf "$OUT/rec_peer_logs.tar.gz" -C "$OUTDIR" $(cd "$OUTDIR" && ls -d *.log recx_"$DEVICE"/metrics.jsonl \
        recx_"$DEVICE"/result.json unirec_"$DEVICE".json unirec_"$DEVICE"/output/*.txt 2>/dev/null)
fi
exit $rc
