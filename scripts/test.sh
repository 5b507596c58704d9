#!/usr/bin/env bash
# Quick start, step 2: the full test suite (installs missing dependencies when run as root,
# builds, then runs every test with CTest).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" = 0 ]; then bash scripts/deps.sh; fi
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j "${GCHECK_JOBS:-2}"
