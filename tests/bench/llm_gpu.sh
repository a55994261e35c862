#!/usr/bin/env bash
# llm_gpu.sh — the LLM benchmarks of issue #5 on a CUDA machine, recx beside its peers in one run:
#   1. builds build-gpu/ (tests/gpu/run.sh --build-only: the same dependencies and flags);
#   2. recx: tests/bench/bench_llm.lua (train / LoRA B16 and B64 x T512, decode B1 and B32);
#   3. peers: tests/bench/bench_llm_torch.py (HF transformers eager, torch.compile, PEFT, generate);
#   4. prints a table of both (tokens/s and the ratio recx / peer) and writes $OUT/llm_table.txt.
#
#   bash tests/bench/llm_gpu.sh [recx|torch|both]     (default both; JSON to $OUT or out/bench)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
WHAT=${1:-both}
export OUT=${OUT:-$ROOT/out/bench}
mkdir -p "$OUT"
bash tests/gpu/run.sh --build-only || { echo "llm_gpu: build failed (see out/gpu/build.log)"; exit 1; }
R=$ROOT/build-gpu-deps/root
if [ -d "$R" ]; then
    export LD_LIBRARY_PATH="$R/usr/lib/x86_64-linux-gnu:$R/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export LUA_CPATH="$R/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;"
fi
if [ "$WHAT" != torch ]; then
    build-gpu/bin/recx tests/bench/bench_llm.lua json="$OUT/llm_recx.json" || echo "llm_gpu: recx benchmark FAILED"
fi
if [ "$WHAT" != recx ]; then
    PYTHONUNBUFFERED=1 python3 tests/bench/bench_llm_torch.py --json "$OUT/llm_torch.json" || echo "llm_gpu: torch benchmark FAILED"
fi
python3 - "$OUT/llm_recx.json" "$OUT/llm_torch.json" <<'PY' | tee "$OUT/llm_table.txt"
import json, os, sys
def rows(p):
    if not os.path.exists(p): return {}
    return {r["name"]: r for r in json.load(open(p))["rows"]}
rx, pt = rows(sys.argv[1]), rows(sys.argv[2])
pairs = [("train B16", ["train eager B16", "train compile B16"]), ("train B64", ["train eager B64", "train compile B64"]),
         ("lora B16", ["lora B16"]), ("lora B64", ["lora B64"]), ("decode B1", ["decode B1"]), ("decode B32", ["decode B32"])]
print(f"{'row':<12} {'recx tok/s':>12}   {'peer':<20} {'peer tok/s':>12} {'recx/peer':>9}")
for name, peers in pairs:
    r = rx.get(name, {}).get("tokens_per_s")
    for p in peers:
        q = pt.get(p, {}).get("tokens_per_s")
        label = p.replace(" B16", "").replace(" B64", "").replace(" B1", "").replace(" B32", "")
        ratio = f"{r / q:9.2f}" if r and q else f"{'-':>9}"
        print(f"{name:<12} {r or 0:12.0f}   {label:<20} {q or 0:12.0f} {ratio}")
PY
