#!/usr/bin/env bash
# main.sh — THE main-job command: installs the dependencies, builds recx into build/ and runs
# the main recipe. Extra arguments are key=value overrides for the recipe
# (`bash scripts/main.sh steps=200 out=out/lm200`, `bash scripts/main.sh resume=true`).
#
# The main recipe is recipes/train_tiny_lm.lua (a tiny Llama-style LM trained on a synthetic
# sequence task, with evaluation, metrics, checkpoints and a loss plot) until the pipeline's
# recipes/train_hybrid.lua exists.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

RECIPE=recipes/train_tiny_lm.lua

bash scripts/install-deps.sh
bash scripts/build.sh build
echo "==> main.sh: build/bin/recx $RECIPE $*"
exec build/bin/recx "$RECIPE" "$@"
