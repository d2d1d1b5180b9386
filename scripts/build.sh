#!/usr/bin/env bash
# Installs dependencies (Debian bookworm, apt-get) and builds everything into
# ./build with Ninja. Extra arguments go to cmake's configure step.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
scripts/build-lock.sh cmake --build "$BUILD_DIR" -j"$JOBS"
