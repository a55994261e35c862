#!/usr/bin/env bash
# test.sh — THE test command: installs the dependencies, builds recx into build/, fetches the
# default model with `recx pull` (models/, once) and runs the whole ctest suite, then builds it
# again with AddressSanitizer + UndefinedBehaviorSanitizer (build-asan/, CPU only) and runs the
# whole suite there too (the real-model tests skipped).
#
# Every step runs even when an earlier one failed (so one run reports everything); the script
# ends with the list of failed steps and exits non-zero if there is any.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

failed=()
step() {
    local name=$1
    shift
    echo "==> test.sh: $name"
    if "$@"; then
        echo "==> test.sh: $name: ok"
        return 0
    fi
    echo "==> test.sh: $name: FAILED" >&2
    failed+=("$name")
    return 1
}

step "install dependencies" bash scripts/install-deps.sh || exit 1

if step "build (build/)" bash scripts/build.sh build; then
    # the real-model tests (SmolLM2-135M-Instruct: GGUF, tokenizer, logits and generation
    # against transformers) need the default model: `recx pull` fetches it once into models/
    step "fetch the default model (recx pull)" bash scripts/fetch-model.sh build
    step "tests (build/)" ctest --test-dir build --output-on-failure -j2
fi

if step "sanitizer build (build-asan/)" bash scripts/build.sh build-asan -DRECX_SANITIZE=ON -DRECX_CUDA=OFF; then
    # the real-model tests are skipped here (RECX_MODELS points nowhere): a 135M-parameter model
    # under ASan takes minutes per test, and build/ has already run them
    step "tests under ASan/UBSan (build-asan/)" env RECX_MODELS=/nonexistent \
        ctest --test-dir build-asan --output-on-failure -j2
fi

if [ ${#failed[@]} -ne 0 ]; then
    echo "test.sh: FAILED steps:" >&2
    printf '  - %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "test.sh: all steps passed"
