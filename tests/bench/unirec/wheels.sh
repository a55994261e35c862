#!/usr/bin/env bash
# wheels.sh [DIR] — downloads what the GPU image lacks for tests/bench/rec_peer.sh's UniRec side into
# DIR (default out/whl, git-ignored): the pure-Python wheel unirec==0.0.1a4, nothing else.
#
# The GPU image (/work/.library/device/KINDS.md, "Python packages already there") has torch, numpy,
# pandas, scipy, scikit-learn, numba, pyarrow, accelerate, tqdm, pyyaml and tensorboard. UniRec's
# other imports (cvxpy, setproctitle, wandb, feather-format) are unused by SASRec training and are
# replaced by tests/bench/unirec/stubs when missing; swifter is not imported by the library.
# The wheel is installed there with --no-deps (it pins torch <= 1.13.1), which rec_peer.sh does
# by itself when it finds DIR/unirec-*.whl and python3 has no unirec: carry DIR (about 120 KB).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
DIR=${1:-$ROOT/out/whl}
PYTHON=${PYTHON:-python3}
mkdir -p "$DIR"
"$PYTHON" -m pip download --no-deps --only-binary=:all: -d "$DIR" unirec==0.0.1a4
ls -l "$DIR"
