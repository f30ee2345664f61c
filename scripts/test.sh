#!/usr/bin/env bash
# Sets everything up and runs the test suite (CPU OpenCL through PoCL; GPU-only tests skip).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j 2
