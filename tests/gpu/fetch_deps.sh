#!/usr/bin/env bash
# fetch_deps.sh — run on the development machine (Debian 12): downloads the Debian packages that
# the GPU machine's image lacks into build-gpu-deps/debs/, for tests/gpu/run.sh to unpack there.
#
# The GPU image (Ubuntu 24.04 with CUDA, PyTorch, CMake, OpenBLAS) has no Lua 5.4, readline,
# cJSON, PCRE2 or zlib headers (libcurl is optional: recx builds without its network functions), and no lua-cjson, luajit or tmux, and it cannot reach a package registry. These
# Debian 12 packages (built for glibc 2.36, so they run on Ubuntu's newer glibc) are unpacked by
# run.sh into build-gpu-deps/root/ (never into /) and used through PKG_CONFIG_PATH, PATH,
# LD_LIBRARY_PATH and LUA_CPATH. build-gpu-deps/ matches the /build*/ ignore rule; about 3 MB.
#
#   bash tests/gpu/fetch_deps.sh        then, on the GPU machine, carry "build-gpu-deps"
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DEST="$ROOT/build-gpu-deps/debs"
PACKAGES=(
    liblua5.4-dev liblua5.4-0 lua5.4 lua-cjson
    libreadline-dev libreadline8 libncurses-dev libncursesw6 libtinfo6
    libcjson-dev libcjson1
    luajit libluajit-5.1-2 libluajit-5.1-common
    tmux libevent-core-2.1-7 libutempter0
    libpcre2-dev libpcre2-8-0 libpcre2-16-0 libpcre2-32-0 libpcre2-posix3 zlib1g-dev zlib1g
)
mkdir -p "$DEST"
cd "$DEST"
rm -f ./*.deb
apt-get download "${PACKAGES[@]}" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true
count=$(ls ./*.deb 2>/dev/null | wc -l)
if [ "$count" -ne "${#PACKAGES[@]}" ]; then
    echo "fetch_deps: expected ${#PACKAGES[@]} packages, got $count in $DEST" >&2
    exit 1
fi
echo "fetch_deps: $count packages ($(du -sh . | cut -f1)) in $DEST"
