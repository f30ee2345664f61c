#!/usr/bin/env bash
# One command for the GPU machine. Builds the CUDA backend (no OpenCL/HDF5 there) into build-gpu, then
#   tests: the whole test suite on the GPU, the precision figures (ESM-2 and DNABERT-2, fp32/fp16/bf16,
#          and ESM-2 with the opt-in RIBO_GELU_EPILOGUE=tanh)
#   ab:    kernel A/B on the 650M shape (RIBO_ATTENTION, RIBO_LAYER_NORM, RIBO_FUSE_ROTARY; ribo only)
#   bench: the benchmark against HuggingFace in the same session (bench/run_gpu_bench.sh cases...)
# Needs .deps from scripts/prepare_device_deps.sh (carried along). Results go to ${OUT:-./device-out}.
#   load:  model start-up of the 3B and 15B shapes (LOAD_SHAPES), setup split and host memory
# Usage: bash scripts/device_run.sh tests|bench|all|ab|load|none [bench cases, e.g. 650M:uniprot:4000 ...]
# (bench: RIBO_VARIANTS="ENV=VALUE ..." adds ribo-only runs per case with those settings)
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}; shift || true
out=${OUT:-$PWD/device-out}
mkdir -p "$out"
deps=${RIBO_DEPS:-$PWD/.deps/root/usr}
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PYTHONUNBUFFERED=1
nvidia-smi -L
t0=$(date +%s)
cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DRIBO_WERROR=ON -DRIBO_OPENCL=OFF -DRIBO_HDF5=OFF -DRIBO_BUILD_TESTS=ON \
  -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHS:-90}" -DPKG_CONFIG_EXECUTABLE=/nonexistent -DCMAKE_PREFIX_PATH="$deps" \
  >"$out/cmake.log" 2>&1 && cmake --build build-gpu -j "$(nproc)" >"$out/build.log" 2>&1 || { tail -30 "$out/build.log"; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
work=${BENCH_WORK:-/tmp/ribo-bench}
if [ "$mode" = none ]; then exit 0; fi
if [ "$mode" = tests ] || [ "$mode" = all ]; then
  TMPDIR=/tmp ctest --test-dir build-gpu --output-on-failure -j 4 --timeout 400 2>&1 | tee "$out/ctest.log" | tail -8
  (cd build-gpu/tests && for t in test_esm2_model test_esm2_reduced test_dnabert2_model; do TMPDIR=/tmp ./$t; done
   echo "== with RIBO_GELU_EPILOGUE=tanh (opt-in tanh GELU in the GEMM epilogue)"
   TMPDIR=/tmp RIBO_GELU_EPILOGUE=tanh ./test_esm2_reduced) 2>&1 | grep -v "CHECK\|^note" | tee "$out/precision.txt" | tail -4
  (cd build-gpu/tests && RIBO_TEST_VERBOSE=1 TMPDIR=/tmp ./test_ops) >"$out/test_ops_verbose.txt" 2>&1
fi
if [ "$mode" = ab ]; then
  # kernel A/B on the 650M shape (op profile and timed runs): attention kernels, LayerNorm kernels,
  # where the rotary is applied
  mkdir -p "$work"
  python3 bench/workloads.py --kind uniprot --n 4000 --seed 1 --out "$work/uniprot-4000.fasta" >/dev/null
  python3 bench/make_esm2_shape.py --shape 650M --out "$work/esm2_650M" >/dev/null 2>&1
  for cfg in RIBO_ATTENTION=wmma RIBO_ATTENTION=mma RIBO_LAYER_NORM=block RIBO_FUSE_ROTARY=0 RIBO_FUSE_ROTARY=1 RIBO_FUSE_ROTARY=q; do
    echo "== $cfg (650M, uniprot 4000, bf16, 65536 tokens)"
    env "$cfg" RIBO_PROFILE_OPS=1 build-gpu/ribo embed --model "$work/esm2_650M" --input "$work/uniprot-4000.fasta" \
      --output "$work/ab.npy" --dtype bf16 --max-tokens 65536 --sync 2>&1 | tail -2
    env "$cfg" build-gpu/ribo embed --model "$work/esm2_650M" --input "$work/uniprot-4000.fasta" \
      --output "$work/ab_${cfg#*=}.npy" --dtype bf16 --max-tokens 65536 2>&1 | tail -1
  done 2>&1 | tee "$out/ab.txt"
fi
if [ "$mode" = load ]; then
  # model start-up (issue 13.2) on bf16 checkpoints already in the page cache: whole run of 100 short
  # proteins, the report's setup split, resident anon/file memory and the peak RSS; default settings,
  # one upload thread, and no warm-up batch. LOAD_SHAPES="3B 15B" by default.
  mkdir -p "$work"
  python3 bench/workloads.py --kind short --n 100 --seed 1 --out "$work/short-100.fasta" >/dev/null
  for shape in ${LOAD_SHAPES:-3B 15B}; do
    m="$work/esm2_$shape"
    t1=$(date +%s)
    [ -f "$m/config.json" ] || python3 bench/make_esm2_shape.py --shape "$shape" --out "$m" >"$out/make_$shape.log" 2>&1 || { echo "make $shape failed"; tail -5 "$out/make_$shape.log"; continue; }
    echo "== $shape: model written in $(( $(date +%s) - t1 )) s, $(du -sh "$m" | cut -f1)"
    cat "$m"/*.safetensors >/dev/null; cat "$m"/*.safetensors >/dev/null
    for cfg in DEFAULT=1 RIBO_LOAD_THREADS=1 RIBO_WARMUP=0 DEFAULT=2; do
      env "$cfg" /usr/bin/time -f "%e s wall, peak RSS %M kB" build-gpu/ribo embed --model "$m" --input "$work/short-100.fasta" \
        --output "$work/load.npy" --dtype bf16 --report "$out/load_${shape}_${cfg%%=*}.json" -q 2>"$out/load_${shape}_${cfg}.err"
      echo "$shape $cfg: $(tail -1 "$out/load_${shape}_${cfg}.err") $(python3 -c '
import json,sys; r=json.load(open(sys.argv[1])); st=r["stage_seconds"]; p=r["devices"][0]["setup"]
print("setup %.2f s (buffers+weights %.2f s, warm-up %.2f s), anon %.2f GB, file %.2f GB" % (st["setup"], p["buffers_and_weights_s"], p["warm_up_s"], p["host_rss_anon_bytes"]/1e9, p["host_rss_file_bytes"]/1e9))' "$out/load_${shape}_${cfg%%=*}.json" 2>&1 | tail -1)"
      sha256sum "$work/load.npy" | cut -c1-16
    done
    rm -rf "$m"
  done 2>&1 | tee "$out/load.txt"
fi
if [ "$mode" = bench ] || [ "$mode" = all ]; then
  bash bench/run_gpu_bench.sh "$PWD/build-gpu/ribo" "$out" "$@" 2>&1 | grep -v "^budget\|sha256" | tee "$out/bench.txt"
fi
echo "total: $(( $(date +%s) - t0 )) s"
