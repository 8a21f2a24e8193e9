#!/usr/bin/env bash
# The whole test suite, as CI runs it (called by ./run.sh test after installing packages).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${JOBS:-$(nproc)}"
start=$(date +%s)

stage() { printf '\n=== %s (%ss elapsed)\n' "$1" "$(( $(date +%s) - start ))"; }

stage "build (dev preset)"
cmake --preset dev >/dev/null
cmake --build build/dev -j "$jobs"

stage "unit, integration and end-to-end tests (dev)"
ctest --preset dev -j "$jobs" --timeout 300

stage "done"
