#!/usr/bin/env bash
# Installs dependencies, builds, and runs every test (unit, property,
# end-to-end against real historiand processes on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
BUILD_DIR=${BUILD_DIR:-build}
cd "$BUILD_DIR"
# Three at a time on 2 cores: most tests wait on processes they started
# (nodes, etcd, a broker), so a third keeps the cores busy (990 tests:
# 278 s against 390 s at -j2, 2026-12-07). Tests never depend on timing.
ctest --output-on-failure -j3 --timeout 600
