#!/usr/bin/env bash
# main.sh — THE main-job command: installs the dependencies, builds recx into build/ and runs
# the main recipe. Extra arguments are key=value overrides for the recipe
# (`bash scripts/main.sh steps=500 out=out/ls500`).
#
# The main recipe is recipes/least_squares.lua until autograd lands; it becomes
# recipes/train_hybrid.lua then.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RECIPE=recipes/least_squares.lua

bash scripts/install-deps.sh
bash scripts/build.sh build
echo "==> main.sh: build/bin/recx $RECIPE $*"
exec build/bin/recx "$RECIPE" "$@"
