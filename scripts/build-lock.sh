#!/usr/bin/env bash
# Serialises heavy builds on a 2-core machine: every build step goes through
# one lock. Usage: scripts/build-lock.sh cmake --build build -j2 --target foo
exec flock /tmp/historian-build.lock "$@"
