#!/usr/bin/env bash
# Configures the one sanitized tree (default build-fuzz/): clang, ASan+UBSan
# and libFuzzer's coverage instrumentation on every library, -O1 -g1 (the
# advice of both ASan's and libFuzzer's docs). scripts/asan-tests.sh builds
# and runs the sanitized unit tests in it, scripts/fuzz.sh the fuzz targets,
# so the storage, codec and client libraries compile once for both.
#   scripts/sanitizer-tree.sh [dir]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${1:-${FUZZ_BUILD_DIR:-build-fuzz}}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1 -DNDEBUG" -DHISTORIAN_FUZZ=ON -DHISTORIAN_BUILD_TESTS=ON \
  -DHISTORIAN_BUILD_BENCHMARKS=OFF >/dev/null
