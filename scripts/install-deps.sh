#!/usr/bin/env bash
# install-deps.sh — installs every package recx needs to build and test on Debian 12.
#
# Idempotent and quiet: when every package is already installed (checked with dpkg-query) it
# prints one line and touches nothing; otherwise it runs `apt-get update` and installs the
# missing ones, as root or through sudo. CUDA is not installed here: the CUDA backend builds
# when an nvcc is already on PATH (see docs/architecture.md, RECX_CUDA).
set -euo pipefail

PACKAGES=(
    build-essential cmake pkg-config
    liblua5.4-dev lua5.4 lua-cjson luajit
    libopenblas-dev libopenblas-openmp-dev libreadline-dev
    libcurl4-openssl-dev zlib1g-dev libpcre2-dev libcjson-dev
    tmux python3
)

missing=()
for pkg in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
    if [ "$status" != "installed" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#PACKAGES[@]} packages present"
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "install-deps: not root and no sudo: cannot install ${missing[*]}" >&2
    exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! "${SUDO[@]}" apt-get update -qq >"$log" 2>&1 ||
   ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        "${missing[@]}" >>"$log" 2>&1; then
    cat "$log" >&2
    echo "install-deps: apt-get failed (output above)" >&2
    exit 1
fi
echo "install-deps: done"
