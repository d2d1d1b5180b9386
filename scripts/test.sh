#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, property,
# end-to-end against real historiand processes on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
ctest --output-on-failure -j2 --timeout 600
