#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every test (unit and
# integration). Benchmarks are separate: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$(nproc)"
ctest --preset ci -j "$(nproc)"
