#!/usr/bin/env bash
# Configures and builds gcheck into build/ (every optional part whose dependency is present).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="${GCHECK_JOBS:-2}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$jobs"
