#!/usr/bin/env bash
# Installs what is missing, builds with warnings as errors, and runs every test (unit and
# integration). The ci test preset sets SHIPD_REQUIRE_NGINX=1: without nginx the nginx driver's
# integration test fails instead of skipping. Benchmarks are separate: see docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake --preset ci >/dev/null
cmake --build --preset ci -j "$(nproc)"
ctest --preset ci -j "$(nproc)"
