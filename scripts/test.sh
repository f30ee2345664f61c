#!/usr/bin/env bash
# Sets everything up and runs the test suite (CPU OpenCL through PoCL; GPU-only tests skip), then
# builds and tests the HIP backend (scripts/test_hip.sh) where Debian's ROCm compiler is available.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh valgrind  # valgrind: the session leak check (tests/CMakeLists.txt)
bash scripts/build.sh
ctest --test-dir build --output-on-failure -j 2
# the Python package: pip builds the C library again through scikit-build-core (CPU backends only
# here, to keep CI short; a plain `pip install ./python` builds CUDA/HIP where their compilers are)
if [ "${RIBO_SKIP_PYTHON:-0}" = 1 ]; then
  echo "test.sh: RIBO_SKIP_PYTHON=1: the Python package is not built or tested"
else
  python3 -m pip install -q --disable-pip-version-check numpy pytest
  python3 -m pip install -q --disable-pip-version-check ./python -C cmake.define.RIBO_CUDA=OFF -C cmake.define.RIBO_HIP=OFF
  RIBO_CLI="$PWD/build/ribo" python3 -m pytest -q python/tests
fi
# the HIP backend (AMD) is built and checked where Debian's ROCm packages can be installed
if [ "${RIBO_SKIP_HIP:-0}" = 1 ]; then
  echo "test.sh: RIBO_SKIP_HIP=1: the HIP backend is not built or tested"
elif apt-cache show hipcc >/dev/null 2>&1 || command -v hipcc >/dev/null; then
  bash scripts/test_hip.sh
else
  echo "test.sh: no hipcc package on this system: the HIP backend is not built or tested (scripts/test_hip.sh)"
fi
