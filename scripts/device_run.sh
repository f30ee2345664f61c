#!/usr/bin/env bash
# One command for the GPU machine: build the CUDA backend (no OpenCL/HDF5 there), run the whole test
# suite on the GPU (plus the figures of the precision tests), then the benchmark against HuggingFace.
# Needs .deps from scripts/prepare_device_deps.sh (carried along). Results go to ${OUT:-./device-out}.
# Usage: bash scripts/device_run.sh [bench cases, e.g. 650M:uniprot:4000 ...]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/device-out}
mkdir -p "$out"
deps=${RIBO_DEPS:-$PWD/.deps/root/usr}
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PYTHONUNBUFFERED=1
nvidia-smi -L
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DRIBO_WERROR=ON -DRIBO_OPENCL=OFF -DRIBO_HDF5=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DPKG_CONFIG_EXECUTABLE=/nonexistent -DCMAKE_PREFIX_PATH="$deps" \
  >"$out/cmake.log" 2>&1 && cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
TMPDIR=/tmp ctest --test-dir build-gpu --output-on-failure 2>&1 | tee "$out/ctest.log" | tail -5
(cd build-gpu/tests && TMPDIR=/tmp ./test_esm2_model && TMPDIR=/tmp ./test_esm2_reduced) 2>&1 | grep -v CHECK | tee "$out/precision.txt"
bash bench/run_gpu_bench.sh "$PWD/build-gpu/ribo" "$out" "$@" 2>&1 | grep -v "^budget\|sha256" | tee "$out/bench.txt"
