#!/usr/bin/env bash
# Where the device time goes, kernel by kernel (GPU machine; ncu is there, nsys is not). Builds like
# device_run.sh, then for each shape and each variant (environment settings such as
# RIBO_FUSE_ROTARY=q; "default" for none): ribo under `ncu --metrics gpu__time_duration.sum` on a small
# uniprot-like input, summed per kernel (tools/ncu_summary.py), and a timed run on 4000 sequences with
# --report (pipeline tokens/s, compute stream busy, host enqueue time). PyTorch/cuBLAS on the same GEMM
# shapes as a yardstick with GEMMS=1 (bench/gemm_shapes.py). Everything goes to $OUT/profile.txt.
# Usage: [VARIANTS="default RIBO_FUSE_ROTARY=q"] bash scripts/device_profile.sh [shape:n_seqs ...]
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-$PWD/device-out}
mkdir -p "$out"
bash scripts/device_run.sh none || exit 1
deps=${RIBO_DEPS:-$PWD/.deps/root/usr}
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PYTHONUNBUFFERED=1
work=${BENCH_WORK:-/tmp/ribo-bench}
mkdir -p "$work"
ncu=$(command -v ncu || ls /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(8M:600 650M:200)
read -r -a variants <<<"${VARIANTS:-default}"
full="$work/uniprot-4000.fasta"
[ -f "$full" ] || python3 bench/workloads.py --kind uniprot --n 4000 --seed 1 --out "$full" >/dev/null
{
for c in "${cases[@]}"; do
  shape=${c%%:*} n=${c#*:}
  fasta="$work/uniprot-$n.fasta"
  [ -f "$fasta" ] || python3 bench/workloads.py --kind uniprot --n "$n" --seed 1 --out "$fasta" >/dev/null
  model="$work/esm2_$shape"
  [ -f "$model/config.json" ] || python3 bench/make_esm2_shape.py --shape "$shape" --out "$model" >/dev/null 2>&1
  for v in "${variants[@]}"; do
    envs=(); [ "$v" = default ] || envs=("$v")
    echo "== $shape [$v]: kernels (ncu, uniprot $n, --sync)"
    env "${envs[@]}" "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --log-file "/tmp/ncu_$shape.csv" \
      build-gpu/ribo embed --model "$model" --input "$fasta" --output "$work/prof_$shape.npy" --dtype bf16 \
      --max-tokens 65536 --sync >"/tmp/ncu_$shape.out" 2>&1 || tail -5 "/tmp/ncu_$shape.out"
    python3 tools/ncu_summary.py "/tmp/ncu_$shape.csv" --top 12
    echo "== $shape [$v]: timed (uniprot 4000, pipelined)"
    env "${envs[@]}" build-gpu/ribo embed --model "$model" --input "$full" --output "$work/timed_${shape}_$v.npy" \
      --dtype bf16 --max-tokens 65536 --report "/tmp/report_$shape.json" 2>&1 | grep -E "embedded|error" | tail -2
    python3 - "/tmp/report_$shape.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
d = r["devices"][0]
print(f"  pipeline {r['totals']['pipeline_tokens_per_s']:,.0f} tokens/s; compute busy {d['stream_busy_fraction']['compute']:.3f}; "
      f"compute {d['stream_seconds']['compute']:.3f} s; host enqueue {d.get('host_enqueue_s', float('nan')):.3f} s; "
      f"batches {d['batches']}; {r['bottleneck'][:60]}")
PY
  done
  if [ "${#variants[@]}" -gt 1 ]; then
    for v in "${variants[@]:1}"; do
      python3 tools/compare_embeddings.py "$work/timed_${shape}_$v.npy" --ref "$work/timed_${shape}_${variants[0]}.npy" \
        --max-rel 0.02 --min-cos 0.9999 2>&1 | tail -1 | sed "s/^/  $shape $v vs ${variants[0]}: /"
    done
  fi
done
if [ "${GEMMS:-0}" = 1 ]; then
  echo "== PyTorch/cuBLAS on the same GEMM shapes (65536 tokens)"
  python3 bench/gemm_shapes.py --hidden 320 --hidden 1280 --tokens 65536
fi
} 2>&1 | tee "$out/profile.txt"
