#!/usr/bin/env bash
# The HIP backend (AMD GPUs) on a machine without one: installs Debian's ROCm compiler packages,
# builds ./build-hip for gfx908 (MI100), gfx90a (MI200), gfx940 (MI300 family, LLVM 15) and gfx1030
# (RDNA2) with warnings as errors, then runs its test suite: the code-object check (MFMA in the
# attention kernels on CDNA: scripts/check_hip_isa.sh), the rocBLAS mapping against the mock
# library, the command line's clean refusal of --backend hip without an AMD GPU, and every other test
# on OpenCL, which --backend auto falls back to. The kernel bodies' wave64 emulation runs in the
# main build (tests/test_*_emu*, nvcc). On a machine with an AMD GPU and ROCm, run
# the whole suite instead: see docs/hip.md.
# Extra arguments go to cmake (e.g. -DCMAKE_HIP_ARCHITECTURES=gfx90a for a quicker build).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh hipcc libamdhip64-dev rocm-device-libs
archs="gfx908;gfx90a;gfx940;gfx1030"
cmake -S . -B build-hip -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIBO_WERROR=ON -DRIBO_CUDA=OFF -DRIBO_HIP=ON \
  "-DCMAKE_HIP_ARCHITECTURES=$archs" "$@"
cmake --build build-hip -j "$(nproc)"
./build-hip/ribo devices || true
ctest --test-dir build-hip --output-on-failure -j 2
