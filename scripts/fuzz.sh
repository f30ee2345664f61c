#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan + UBSan) into build-fuzz/ and runs
# each for N seconds (default 30), seeded with the committed fixtures. Exits non-zero on the first
# crash, leak or timeout; the input that caused it is left in build-fuzz/artifacts/.
#   scripts/fuzz.sh [SECONDS]        (needs clang: apt-get install -y clang)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-30}"
command -v clang >/dev/null || { echo "fuzz.sh: clang not found (apt-get install -y clang)" >&2; exit 1; }
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRIBO_FUZZ=ON -DRIBO_BUILD_TESTS=OFF \
  -DRIBO_OPENCL=OFF -DRIBO_CUDA=OFF -DRIBO_HIP=OFF -DRIBO_HDF5=OFF -DRIBO_WERROR=ON >/dev/null
mkdir -p build-fuzz/artifacts
for harness in fuzz_torch_bin; do
  cmake --build build-fuzz --target "$harness" -j2
  corpus="build-fuzz/corpus/$harness"
  mkdir -p "$corpus"
  # seeds: the small committed checkpoints, and their bare pickles (for the pickle reader alone)
  find tests/fixtures/torch_bin -maxdepth 1 -name '*.bin' -size -128k -exec cp {} "$corpus/" \;
  python3 - "$corpus" <<'PY' || true
import os, sys, zipfile
out = sys.argv[1]
for fn in sorted(os.listdir(out)):
    p = os.path.join(out, fn)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            for n in z.namelist():
                if n.endswith("/data.pkl"):
                    open(os.path.join(out, fn + ".pkl"), "wb").write(z.read(n))
PY
  echo "fuzz.sh: $harness for ${secs}s"
  "build-fuzz/tests/fuzz/$harness" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix=build-fuzz/artifacts/ -print_final_stats=1 "$corpus"
done
echo "fuzz.sh: no crash"
