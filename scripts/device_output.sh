#!/usr/bin/env bash
# GPU machine, issue 17 figures: per-residue output at disk speed. ESM-2 650M shape, N UniProt-like
# proteins (default 4000): --pool mean vs --pool none (per-residue, ~7.4 GB for 4000) with --writers
# 1, 2 and 4, each with --report; then a dd-style sequential write of the same size to the same
# directory (buffered + fdatasync, as ribo writes, and O_DIRECT), for the "write throughput >= 80% of
# what the disk does" comparison. Checks that every --writers count gives the same bytes.
# Run after scripts/device_run.sh built build-gpu (or it builds it). Results under ${OUT:-./device-out}:
# output.txt (the summary), report_output_*.json, dd_*.txt.
# The outputs go to ${BENCH_WORK:-/tmp/ribo-bench}: point it at the disk to measure (needs ~2 x the
# per-residue size free: one output at a time plus the dd file, removed after each step).
# Usage: bash scripts/device_output.sh [N sequences, default 4000]
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
model=$work/esm2_650M
[ -f "$model/config.json" ] || python3 bench/make_esm2_shape.py --shape 650M --out "$model" >/dev/null 2>&1
summary=$out/output.txt; : >"$summary"
df -h "$work" | tee -a "$summary"
build-gpu/ribo info --model "$model" | grep -- "--pool none" | tee -a "$summary"

run() {  # label, then ribo embed options
  local label=$1; shift
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f "$label: %e s wall, %M KB peak RSS" build-gpu/ribo embed -q --model "$model" --input "$fasta" \
    --dtype bf16 --max-tokens 65536 --devices 0 --report "$out/report_output_$label.json" "$@" 2>&1 | tail -2 | tee -a "$summary"
  python3 tools/report_summary.py "$out/report_output_$label.json" "$label" | tee -a "$summary"
  python3 - "$out/report_output_$label.json" "$label" <<'PY' | tee -a "$summary"
import json, sys
r = json.load(open(sys.argv[1])); w = r.get("write", {})
print(f"  {sys.argv[2]}: whole run {r['totals']['seconds']:.2f} s; {w.get('layout')}; {w.get('writers')} writer(s), "
      f"{w.get('bytes_written', 0) / 1e9:.2f} GB at {w.get('write_gb_per_s', 0):.2f} GB/s over the write span, "
      f"{w.get('gb_per_writer_busy_s', 0):.2f} GB per writer-busy second, busy {w.get('writer_busy_fraction')}; "
      f"assemble {w.get('assemble_seconds', 0):.2f} s")
PY
}

run mean --pool mean --output "$work/o_mean.npy"
rm -f "$work"/o_mean.*
for w in 1 2 4; do
  run "none_w$w" --pool none --writers "$w" --output "$work/o_none_w$w.npy"
  if [ "$w" = 1 ]; then
    bytes=$(stat -c %s "$work/o_none_w1.npy")
    mv "$work/o_none_w1.npy" "$work/ref_none.npy"
  else
    cmp "$work/ref_none.npy" "$work/o_none_w$w.npy" && echo "--writers $w: same bytes as --writers 1" | tee -a "$summary"
    rm -f "$work/o_none_w$w.npy"
  fi
  rm -f "$work"/o_none_w$w.ids.txt "$work"/o_none_w$w.offsets.npy
done
rm -f "$work"/ref_none.*
python3 - "$out" <<'PY' | tee -a "$summary"
import json, sys
m = json.load(open(f"{sys.argv[1]}/report_output_mean.json"))["totals"]["seconds"]
for w in (1, 2, 4):
    s = json.load(open(f"{sys.argv[1]}/report_output_none_w{w}.json"))["totals"]["seconds"]
    print(f"--pool none --writers {w}: {s:.2f} s = {s / m:.2f} x the pooled run ({m:.2f} s); target <= 2x")
PY
# the same number of bytes, sequentially, to the same directory (64 MiB blocks)
count=$(( (bytes + (64 << 20) - 1) / (64 << 20) ))
for mode in fdatasync direct; do
  sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
  flag="conv=fdatasync"; [ $mode = direct ] && flag="oflag=direct conv=fdatasync"
  dd if=/dev/zero of="$work/dd.bin" bs=64M count="$count" $flag 2>&1 | tail -1 | tee "$out/dd_$mode.txt" |
    sed "s/^/dd $mode ($count x 64 MiB): /" | tee -a "$summary"
  rm -f "$work/dd.bin"
done
