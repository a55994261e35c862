#!/usr/bin/env bash
# run.sh [BUILD_DIR] — builds and runs the benchmarks (matmul, elementwise) and prints their
# tables; the JSON files go to out/bench/. Not part of ctest: timings need a quiet machine.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${1:-build}
case "$BUILD_DIR" in
    /*) ;;
    *) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac
cd "$ROOT"
if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$BUILD_DIR" -j"$(nproc)" --target bench_matmul bench_elementwise >/dev/null
echo "== $(date -u) on $(nproc) cores: $(lscpu | sed -n 's/^Model name: *//p')"
"$BUILD_DIR/tests/bench_matmul" out/bench/matmul.json
echo
"$BUILD_DIR/tests/bench_elementwise" out/bench/elementwise.json
