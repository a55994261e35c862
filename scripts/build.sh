#!/usr/bin/env bash
# build.sh [BUILD_DIR] [extra cmake args...] — configures recx (RelWithDebInfo: -O3 -g) and
# builds every target with one job per core.
#
#   bash scripts/build.sh                      # build/, CUDA when nvcc is found
#   bash scripts/build.sh build-cpu -DRECX_CUDA=OFF
#   bash scripts/build.sh build-asan -DRECX_SANITIZE=ON -DRECX_CUDA=OFF
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=build
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then # a first argument that is not an option
    BUILD_DIR=$1
    shift
fi
case "$BUILD_DIR" in
    /*) ;;
    *) BUILD_DIR="$ROOT/$BUILD_DIR" ;;
esac

cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@"
cmake --build "$BUILD_DIR" -j"$(nproc)"
