#!/usr/bin/env bash
# GPU machine, issue 4 figures: the same inputs with --sync vs the three-stream pipeline (8M and 650M
# shapes), their --report/--trace, and scaling over every GPU of the machine (--devices all vs 0).
# Run after scripts/device_run.sh built build-gpu (or it builds it). Results under ${OUT:-./device-out}.
# Usage: bash scripts/device_pipeline.sh [N sequences, default 4000]
set -uo pipefail
cd "$(dirname "$0")/.."
n=${1:-4000}
out=${OUT:-$PWD/device-out}; mkdir -p "$out"
deps=${RIBO_DEPS:-$PWD/.deps/root/usr}
export LD_LIBRARY_PATH=$deps/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} PYTHONUNBUFFERED=1
[ -x build-gpu/ribo ] || bash scripts/device_run.sh none >/dev/null
work=${BENCH_WORK:-/tmp/ribo-bench}; mkdir -p "$work"
fasta=$work/uniprot-$n.fasta
[ -f "$fasta" ] || python3 bench/workloads.py --kind uniprot --n "$n" --seed 1 --out "$fasta" >/dev/null
summary=$out/pipeline.txt; : >"$summary"
for shape in 8M 650M; do
  model=$work/esm2_$shape
  [ -f "$model/config.json" ] || python3 bench/make_esm2_shape.py --shape "$shape" --out "$model" >/dev/null 2>&1
  for mode in sync pipelined; do
    flag=; [ $mode = sync ] && flag=--sync
    build-gpu/ribo embed -q --model "$model" --input "$fasta" --output "$work/p_${shape}_$mode.npy" --dtype bf16 \
      --max-tokens 65536 --devices 0 $flag --report "$out/report_${shape}_$mode.json" \
      ${TRACE:+--trace "$out/trace_${shape}_$mode.json"} 2>&1 | tail -2
    python3 tools/report_summary.py "$out/report_${shape}_$mode.json" "$shape $mode" | tee -a "$summary"
    [ -n "${TRACE:-}" ] && python3 tools/trace_overlap.py "$out/trace_${shape}_$mode.json" | tee -a "$summary"
  done
  cmp "$work/p_${shape}_sync.npy" "$work/p_${shape}_pipelined.npy" && echo "$shape: sync and pipelined outputs identical" | tee -a "$summary"
done
ngpu=$(nvidia-smi -L | wc -l)
if [ "$ngpu" -gt 1 ]; then
  model=$work/esm2_650M
  for devs in 0 all; do
    build-gpu/ribo embed -q --model "$model" --input "$fasta" --output "$work/s_$devs.npy" --dtype bf16 --max-tokens 65536 \
      --devices $devs --report "$out/report_650M_devices_$devs.json" 2>&1 | tail -2
    python3 tools/report_summary.py "$out/report_650M_devices_$devs.json" "650M --devices $devs" | tee -a "$summary"
  done
  cmp "$work/s_0.npy" "$work/s_all.npy" && echo "650M: 1 GPU and $ngpu GPUs outputs identical" | tee -a "$summary"
fi
