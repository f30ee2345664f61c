#!/usr/bin/env bash
# Configures and builds ribo into ./build (warnings are errors). Extra arguments go to cmake.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIBO_WERROR=ON "$@"
cmake --build build -j "$(nproc)"
