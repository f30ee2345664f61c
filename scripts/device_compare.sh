#!/usr/bin/env bash
# GPU machine: proves a refactoring changed no output byte and no speed. Builds the tree at BASE_SRC
# (e.g. `git archive <commit>` unpacked under build-base-src/, carried along) and this tree, both
# Release with the CUDA backend, then
#   1. tests/output_hashes.sh with both binaries for fp32, fp16 and bf16 (every committed fixture,
#      every pooling, multi-batch, two pipelines, --translate 6): the new outputs must be
#      byte-identical to the old ones (the old binary runs twice for bf16 to show the comparison
#      itself is deterministic);
#   2. paired timings of old and new on the 8M and 650M shapes (bench/make_esm2_shape.py, uniprot
#      lengths), alternating, three runs each: whole process (wall) and the batch loop (tokens/s).
# Needs .deps from scripts/prepare_device_deps.sh. Usage: bash scripts/device_compare.sh BASE_SRC
set -uo pipefail
cd "$(dirname "$0")/.."
base_src=$(cd "${1:?usage: $0 BASE_SRC}" && pwd)
out=${OUT:-$PWD/device-out}
mkdir -p "$out"
deps=${RIBO_DEPS:-$PWD/.deps/root/usr}
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PYTHONUNBUFFERED=1
flags=(-DCMAKE_BUILD_TYPE=Release -DRIBO_WERROR=ON -DRIBO_OPENCL=OFF -DRIBO_HDF5=OFF
       -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DPKG_CONFIG_EXECUTABLE=/nonexistent -DCMAKE_PREFIX_PATH="$deps")
t0=$(date +%s)
build() {  # src dir, build dir, log name, tests ON|OFF (only the ribo target is built here)
  cmake -S "$1" -B "$2" "${flags[@]}" -DRIBO_BUILD_TESTS="$4" >"$out/$3.cmake.log" 2>&1 &&
    cmake --build "$2" -j "$(nproc)" --target ribo >"$out/$3.build.log" 2>&1 || { tail -30 "$out/$3.build.log"; exit 1; }
}
build "$base_src" build-base base OFF &
build . build-gpu new ON  # the tests configured too, so scripts/device_run.sh tests builds on from here
wait
echo "builds: $(( $(date +%s) - t0 )) s"
old=$PWD/build-base/ribo new=$PWD/build-gpu/ribo
status=0
compare() {  # one dtype: old outputs, (bf16: old again), new against old
  local dtype=$1
  tests/output_hashes.sh "$old" cuda "$dtype" >"$out/hashes.base.$dtype.txt" || { echo "base $dtype failed"; return 1; }
  if [ "$dtype" = bf16 ]; then
    tests/output_hashes.sh "$old" cuda "$dtype" --check "$out/hashes.base.$dtype.txt" | sed 's/^/base vs base: /' || return 1
  fi
  tests/output_hashes.sh "$new" cuda "$dtype" --check "$out/hashes.base.$dtype.txt" 2>&1 | tail -20
  return "${PIPESTATUS[0]}"
}
pids=()
for dtype in fp32 fp16 bf16; do compare "$dtype" >"$out/compare.$dtype.log" 2>&1 & pids+=($!); done
for p in "${pids[@]}"; do wait "$p" || status=1; done
cat "$out"/compare.*.log
echo "hashes: $(( $(date +%s) - t0 )) s"
work=/tmp/ribo-compare
mkdir -p "$work"
python3 bench/workloads.py --kind uniprot --n 4000 --seed 1 --out "$work/uniprot-4000.fasta" >/dev/null
for shape in 8M 650M; do
  python3 bench/make_esm2_shape.py --shape "$shape" --out "$work/esm2_$shape" >/dev/null 2>&1
  for run in 1 2 3; do
    for which in base new; do
      bin=$old; [ "$which" = new ] && bin=$new
      s=$(date +%s.%N)
      line=$("$bin" embed --model "$work/esm2_$shape" --input "$work/uniprot-4000.fasta" --output "$work/$which.npy" \
        --dtype bf16 --max-tokens 65536 2>&1 | grep "embedded")
      e=$(date +%s.%N)
      loop=$(sed -n 's/.*batches alone \([0-9.]* s\), \([0-9]*\) tokens\/s.*/\1 \2 tokens\/s/p' <<<"$line")
      printf "%-5s %-4s run %d: wall %.2f s, batch loop %s\n" "$shape" "$which" "$run" "$(awk "BEGIN{print $e - $s}")" "$loop"
    done
  done
  cmp -s "$work/base.npy" "$work/new.npy" && echo "$shape: last base and new outputs byte-identical" ||
    { echo "$shape: base and new outputs DIFFER"; status=1; }
done >"$out/timings.txt" 2>&1
cat "$out/timings.txt"
echo "total: $(( $(date +%s) - t0 )) s"
exit $status
