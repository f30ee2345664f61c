#!/usr/bin/env bash
# Device-machine benchmark: ribo vs HuggingFace transformers in the same session, same shapes and
# lengths. Usage: bench/run_gpu_bench.sh RIBO_BINARY OUTDIR [cases...]
# A case is SHAPE:WORKLOAD:N, e.g. 650M:uniprot:4000 (shapes from bench/make_esm2_shape.py).
set -uo pipefail
ribo=$1; out=$2; shift 2
cases=("$@")
[ ${#cases[@]} -gt 0 ] || cases=(8M:uniprot:4000 650M:uniprot:4000 3B:short:8000)
work=${BENCH_WORK:-/tmp/ribo-bench}
mkdir -p "$work" "$out"
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/cublas_peak.py" --json "$out/cublas_peak.json" 2>&1 | tail -1
for c in "${cases[@]}"; do
  IFS=: read -r shape kind n <<<"$c"
  fasta="$work/$kind-$n.fasta"
  [ -f "$fasta" ] || python3 "$here/workloads.py" --kind "$kind" --n "$n" --seed 1 --out "$fasta" >/dev/null
  model="$work/esm2_$shape"
  [ -f "$model/config.json" ] || python3 "$here/make_esm2_shape.py" --shape "$shape" --out "$model" >/dev/null 2>&1
  tag="${shape}_${kind}_${n}"
  echo "== $tag"
  "$ribo" embed --model "$model" --input "$fasta" --output "$work/ribo_$tag.npy" --dtype bf16 --max-tokens 65536 \
    --report "$out/ribo_$tag.report.json" --trace "$out/ribo_$tag.trace.json" \
    2>&1 | tee "$out/ribo_$tag.txt" | grep -E "embedded|bottleneck"
  python3 "$here/../tools/trace_overlap.py" "$out/ribo_$tag.trace.json" 2>&1 | tee "$out/ribo_$tag.overlap.txt"
  python3 "$here/../tools/trace_batches.py" "$out/ribo_$tag.trace.json"
  python3 "$here/hf_esm2_bench.py" --model "$model" --fasta "$fasta" --budgets "${HF_BUDGETS:-32768,65536}" \
    --json "$out/hf_$tag.json" --save-npy "$work/hf_$tag.npy" 2>&1 | tail -3
  python3 "$here/../tools/compare_embeddings.py" "$work/ribo_$tag.npy" --ref "$work/hf_$tag.npy" \
    --ids "$work/ribo_$tag.ids.txt" --ref-ids "$work/hf_$tag.ids.txt" --max-rel 0.05 --min-cos 0.999 2>&1 | tail -1
  for v in ${RIBO_VARIANTS:-}; do  # ribo-only runs with other settings, against the same HF embeddings
    echo "-- $tag with $v"
    env "$v" "$ribo" embed --model "$model" --input "$fasta" --output "$work/ribo_v_$tag.npy" --dtype bf16 \
      --max-tokens 65536 2>&1 | grep -E "embedded"
    python3 "$here/../tools/compare_embeddings.py" "$work/ribo_v_$tag.npy" --ref "$work/hf_$tag.npy" \
      --ids "$work/ribo_v_$tag.ids.txt" --ref-ids "$work/hf_$tag.ids.txt" --max-rel 0.05 --min-cos 0.999 2>&1 | tail -1
  done
done
