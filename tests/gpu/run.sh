#!/usr/bin/env bash
# run.sh — everything GPU-related in one command, on a machine with a CUDA GPU:
#   1. builds recx with the CUDA backend into build-gpu/ (Release), all targets;
#   2. runs ctest: every CPU test, then the GPU tests verbosely (tests/gpu, exit 77 = skipped);
#   3. runs test_cuda_ops under compute-sanitizer memcheck (all tests, smaller shapes) and
#      racecheck (the kernels that use shared memory), when compute-sanitizer is installed;
#   4. runs the GPU benchmarks (build-gpu/tests/bench_gpu_*) and, when python3 has torch,
#      tests/bench/bench_gpu_core_torch.py and bench_gpu_nn_torch.py on the same shapes;
#   5. prints a summary table: tests, sanitizers, benchmark figures (recx beside torch).
# Logs and JSON go to out/gpu/; when $OUT is set (the device tool brings back at most 8 files
# from it), the JSON files are copied there and the logs packed into $OUT/gpu_logs.tar.gz.
#
# Dependencies: the GPU image has CUDA, CMake and OpenBLAS but no Lua 5.4, readline or cJSON
# headers. When pkg-config does not find them and build-gpu-deps/debs/ holds the packages that
# tests/gpu/fetch_deps.sh downloads (run it on the development machine and carry
# build-gpu-deps), they are unpacked into build-gpu-deps/root/ and used from there.
#
#   bash tests/gpu/run.sh            (exit status: 0 when every stage passed)
#   bash tests/gpu/run.sh --build-only   (dependencies + build only; for tests/bench/llm_gpu.sh)
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
BUILD="$ROOT/build-gpu"
LOGS="$ROOT/out/gpu"
rm -rf "$LOGS"
mkdir -p "$LOGS"
JOBS=$(nproc)
T0=$(date +%s)
declare -a SUMMARY=()
STATUS=0
note() { SUMMARY+=("$(printf '%-28s %s' "$1" "$2")"); }
stage() { echo; echo "== $1 ($(($(date +%s) - T0)) s)"; }

# ---- dependencies ---------------------------------------------------------------------------
setup_deps() {
    if pkg-config --exists lua5.4 readline libcjson libpcre2-8 zlib 2>/dev/null; then
        note "dependencies" "system packages"
        return 0
    fi
    local debs="$ROOT/build-gpu-deps/debs" root="$ROOT/build-gpu-deps/root"
    if ! ls "$debs"/*.deb >/dev/null 2>&1; then
        echo "run.sh: pkg-config finds no lua5.4/readline/libcjson/libpcre2-8/zlib and $debs holds no packages:"
        echo "        run 'bash tests/gpu/fetch_deps.sh' on the development machine and carry build-gpu-deps"
        note "dependencies" "MISSING (lua5.4, readline, libcjson, libpcre2-8, zlib)"
        return 1
    fi
    rm -rf "$root"
    mkdir -p "$root"
    for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$root" || return 1; done
    # absolute symlinks (libreadline.so -> /lib/...) must point inside the unpacked tree
    find "$root" -type l -lname '/*' | while read -r l; do ln -sfn "$root$(readlink "$l")" "$l"; done
    # link against the shared libraries only: a static archive found first (libz.a) is not PIC
    find "$root" -name '*.a' -delete
    local pc="$root/usr/lib/x86_64-linux-gnu/pkgconfig"
    sed -i -e "s|=/usr|=$root/usr|g" -e "s|-L/usr/|-L$root/usr/|g" "$pc"/*.pc
    export PKG_CONFIG_PATH="$pc${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
    export LD_LIBRARY_PATH="$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export PATH="$root/usr/bin:$PATH"
    export CPATH="$root/usr/include/x86_64-linux-gnu${CPATH:+:$CPATH}" # lua5.4-deb-multiarch.h
    export LUA_CPATH="$root/usr/lib/x86_64-linux-gnu/lua/5.4/?.so;;"
    export TERMINFO_DIRS="$root/usr/share/terminfo:$root/lib/terminfo:/usr/share/terminfo:/lib/terminfo"
    note "dependencies" "unpacked from build-gpu-deps/debs ($(ls "$debs"/*.deb | wc -l) packages)"
}

stage "environment"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -4
echo "nvcc: $(nvcc --version 2>/dev/null | tail -1)"
echo "cmake: $(cmake --version | head -1); cores: $JOBS; logs: $LOGS"
setup_deps
DEPS_OK=$?

# ---- build ------------------------------------------------------------------------------------
BUILD_OK=1
if [ $DEPS_OK -eq 0 ]; then
    stage "build (build-gpu, Release, CUDA on)"
    if cmake -S "$ROOT" -B "$BUILD" -DRECX_CUDA=ON -DCMAKE_BUILD_TYPE=Release >"$LOGS/configure.log" 2>&1 &&
        cmake --build "$BUILD" -j"$JOBS" >"$LOGS/build.log" 2>&1; then
        BUILD_OK=0
        nwarn=$(grep -c -i "warning" "$LOGS/build.log")
        echo "built in $(($(date +%s) - T0)) s; $nwarn warning line(s) in build.log"
        grep -i -A3 "warning" "$LOGS/build.log" | head -40
        note "build" "ok ($nwarn warning lines)"
    else
        echo "build FAILED; the first errors:"
        cat "$LOGS/configure.log" | tail -20
        grep -E -i -B2 -A6 "error" "$LOGS/build.log" | head -80
        note "build" "FAILED (see build.log)"
        STATUS=1
    fi
else
    note "build" "not run (dependencies)"
    STATUS=1
fi

if [ "${1:-}" = "--build-only" ]; then
    printf '%s\n' "${SUMMARY[@]}"
    exit $BUILD_OK
fi

# ---- tests ------------------------------------------------------------------------------------
ctest_counts() { # "N passed, F failed, S skipped of T" from a ctest log (CMake 3 and 4 wording)
    local log=$1 total failed skipped names
    total=$(sed -n 's/.*tests passed.* out of \([0-9][0-9]*\).*/\1/p' "$log" | tail -1)
    failed=$(sed -n 's/.* \([0-9][0-9]*\) tests failed out of.*/\1/p' "$log" | tail -1)
    skipped=$(grep -c "(Skipped)" "$log")
    names=$(sed -n '/The following tests FAILED:/,$p' "$log" | grep -E "^[[:space:]]+[0-9]+ - " |
        sed 's/^[[:space:]]*[0-9]* - //' | head -10 | tr '\n' ' ')
    total=${total:-0} failed=${failed:-0}
    echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped of $total${names:+ (failed: $names)}"
}

if [ $BUILD_OK -eq 0 ]; then
    stage "ctest: CPU tests"
    ctest --test-dir "$BUILD" -E '^gpu/' -j"$JOBS" --timeout 600 --output-on-failure >"$LOGS/ctest_cpu.log" 2>&1
    rc=$?
    grep -E "tests passed|tests failed|Failed|\*\*\*|Not Run" "$LOGS/ctest_cpu.log" | head -40
    [ $rc -ne 0 ] && STATUS=1
    note "ctest (CPU tests)" "$(ctest_counts "$LOGS/ctest_cpu.log")"

    stage "ctest: GPU tests"
    ctest --test-dir "$BUILD" -R '^gpu/' -V --timeout 600 >"$LOGS/ctest_gpu.log" 2>&1
    rc=$?
    grep -E "^[0-9]+: " "$LOGS/ctest_gpu.log" | sed 's/^[0-9]*: //' | grep -v "^Test command\|^Working Directory\|^Environment\|^Test timeout" | tail -120
    grep -E "tests passed|tests failed" "$LOGS/ctest_gpu.log"
    [ $rc -ne 0 ] && STATUS=1
    groups=$(grep -E "^[0-9]+: [0-9]+ passed, [0-9]+ failed" "$LOGS/ctest_gpu.log" | sed 's/^[0-9]*: //' | tail -1)
    note "ctest (GPU tests)" "$(ctest_counts "$LOGS/ctest_gpu.log")${groups:+; test_cuda_ops: $groups test groups}"
fi

# ---- sanitizers -----------------------------------------------------------------------------
TEST_BIN="$BUILD/tests/test_cuda_ops"
if [ $BUILD_OK -eq 0 ] && [ -x "$TEST_BIN" ]; then
    if command -v compute-sanitizer >/dev/null 2>&1; then
        stage "compute-sanitizer memcheck (RECX_GPU_TEST_QUICK=1)"
        # API errors are expected (the out-of-memory test asks for 1 PiB); the test checks them
        RECX_GPU_TEST_QUICK=1 RECX_GPU_TEST_NO_STICKY=1 timeout 300 compute-sanitizer --tool memcheck \
            --report-api-errors no --error-exitcode 99 "$TEST_BIN" >"$LOGS/memcheck.log" 2>&1
        rc=$?
        grep -E "ERROR SUMMARY|passed, .* failed|Invalid|out of bounds|Address" "$LOGS/memcheck.log" | head -30
        summary=$(grep "ERROR SUMMARY" "$LOGS/memcheck.log" | tail -1 | sed 's/=* *//')
        [ $rc -eq 124 ] && summary="TIMEOUT after 300 s; $summary"
        [ $rc -ne 0 ] && STATUS=1
        note "memcheck" "${summary:-no summary (rc $rc)}; test rc $rc"

        stage "compute-sanitizer racecheck (shared-memory kernels)"
        RECX_GPU_TEST_QUICK=1 RECX_GPU_TEST_NO_STICKY=1 \
            RECX_GPU_TEST_ONLY=test_reduce,test_cumsum,test_softmax,test_determinism timeout 240 \
            compute-sanitizer --tool racecheck --racecheck-report hazard --error-exitcode 99 "$TEST_BIN" \
            >"$LOGS/racecheck.log" 2>&1
        rc=$?
        grep -E "RACECHECK SUMMARY|ERROR SUMMARY|passed, .* failed|hazard" "$LOGS/racecheck.log" | head -30
        summary=$(grep -E "RACECHECK SUMMARY|ERROR SUMMARY" "$LOGS/racecheck.log" | tail -1 | sed 's/=* *//')
        [ $rc -eq 124 ] && summary="TIMEOUT after 240 s; $summary"
        [ $rc -ne 0 ] && STATUS=1
        note "racecheck" "${summary:-no summary (rc $rc)}; test rc $rc"
    else
        note "memcheck, racecheck" "skipped: compute-sanitizer not found"
    fi
fi

# ---- benchmarks -------------------------------------------------------------------------------
declare -a BENCH=()
if [ $BUILD_OK -eq 0 ]; then
    for b in "$BUILD"/tests/bench_gpu_*; do
        [ -x "$b" ] || continue
        name=$(basename "$b")
        stage "benchmark $name"
        timeout 300 "$b" "$LOGS/${name#bench_}.json" 2>&1 | tee "$LOGS/$name.log"
        [ "${PIPESTATUS[0]}" -ne 0 ] && { STATUS=1; note "$name" "FAILED"; } || note "$name" "ok ($LOGS/${name#bench_}.json)"
    done
    if python3 -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
        stage "benchmark bench_gpu_core_torch.py"
        timeout 300 python3 "$ROOT/tests/bench/bench_gpu_core_torch.py" "$LOGS/gpu_core_torch.json" 2>&1 |
            tee "$LOGS/bench_gpu_core_torch.log"
        stage "benchmark bench_gpu_nn_torch.py"
        timeout 300 python3 "$ROOT/tests/bench/bench_gpu_nn_torch.py" "$LOGS/gpu_nn_torch.json" "$LOGS/gpu_nn.json" \
            2>&1 | tee "$LOGS/bench_gpu_nn_torch.log"
    fi
    if [ -f "$LOGS/gpu_core.json" ]; then
        mapfile -t BENCH < <(python3 - "$LOGS/gpu_core.json" "$LOGS/gpu_core_torch.json" <<'EOF'
import json, os, sys
recx = json.load(open(sys.argv[1]))
torch = json.load(open(sys.argv[2])) if os.path.exists(sys.argv[2]) else {"gemm": [], "bandwidth": []}
def key(r): return (r["name"], r["dtype"], r["layout"])
def bkey(r): return (r["kind"], r["dtype"])
tg = {key(r): r for r in torch["gemm"]}
tb = {bkey(r): r for r in torch["bandwidth"]}
print(f"{'GEMM':<42} {'dtype':<5} {'layout':<8} {'recx TFLOP/s':>12} {'torch':>8} {'ratio':>6}")
for r in recx["gemm"]:
    t = tg.get(key(r))
    print(f"{r['name']:<42} {r['dtype']:<5} {r['layout']:<8} {r['tflops']:>12.1f} "
          f"{(t['tflops'] if t else float('nan')):>8.1f} {(r['tflops'] / t['tflops'] if t else float('nan')):>6.2f}")
print(f"{'bandwidth':<42} {'dtype':<5} {'':<8} {'recx GB/s':>12} {'torch':>8} {'ratio':>6}")
for r in recx["bandwidth"]:
    t = tb.get(bkey(r))
    print(f"{r['name']:<42} {r['dtype']:<5} {'':<8} {r['gbps']:>12.0f} "
          f"{(t['gbps'] if t else float('nan')):>8.0f} {(r['gbps'] / t['gbps'] if t else float('nan')):>6.2f}")
EOF
        )
    fi
fi

# ---- summary ----------------------------------------------------------------------------------
echo
echo "================================ summary ($(($(date +%s) - T0)) s) ================================"
for line in "${SUMMARY[@]}"; do echo "$line"; done
if [ ${#BENCH[@]} -gt 0 ]; then
    echo
    for line in "${BENCH[@]}"; do echo "$line"; done
fi
echo
if [ -n "${OUT:-}" ] && [ -d "$OUT" ]; then
    cp "$LOGS"/*.json "$OUT"/ 2>/dev/null
    tar -czf "$OUT/gpu_logs.tar.gz" -C "$ROOT/out" gpu
    echo "logs: $LOGS (packed into \$OUT/gpu_logs.tar.gz; JSON copied to \$OUT)"
else
    echo "logs and JSON: $LOGS"
fi
echo "result: $([ $STATUS -eq 0 ] && echo PASS || echo FAIL)"
exit $STATUS
