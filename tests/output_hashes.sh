#!/usr/bin/env bash
# sha256 of every output file `ribo embed` writes for every committed fixture model, input and pooling,
# on one backend and dtype. Used to prove that a refactoring leaves the embeddings byte-identical:
#
#   tests/output_hashes.sh BIN BACKEND DTYPE            print "case file sha256" lines
#   tests/output_hashes.sh BIN BACKEND DTYPE --check F  compare against a recorded list F (exit 1 on
#                                                      any difference, naming the case)
#
# Recorded lists live in tests/fixtures/output_sha256.<backend>.<dtype>.txt; they are machine-specific
# (PoCL compiles for the host CPU, so another CPU may round differently) and are recorded on the machine
# that checks them. The cases cover both families, every pooling, a multi-batch run (--max-tokens 1024),
# a two-device run (--devices 0,0), --translate 6, and the sharded checkpoint.
set -euo pipefail
if (($# < 3)); then
  echo "usage: $0 BIN BACKEND DTYPE [--check FILE]" >&2
  exit 2
fi
bin=$1 backend=$2 dtype=$3
check=""
if (($# >= 5)) && [[ $4 == --check ]]; then check=$5; fi
root="$(cd "$(dirname "$0")/.." && pwd)"
fx="$root/tests/fixtures"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

run_case() {  # name, then ribo embed arguments
  local name=$1
  shift
  local out="$work/$name"
  mkdir -p "$out"
  if ! "$bin" embed -q --backend "$backend" --dtype "$dtype" --output "$out/emb.npy" "$@" 2>"$out/stderr"; then
    echo "$name: ribo embed failed: $(tail -n 1 "$out/stderr")" >&2
    exit 1
  fi
  (cd "$out" && for f in $(ls | grep -v '^stderr$' | sort); do
     echo "$name $f $(sha256sum "$f" | cut -d' ' -f1)"
   done)
}

{
  for model in esm2_a esm2_b esm2_c_sharded; do
    for input in proteins short; do
      for pool in mean cls none; do
        run_case "$model.$input.$pool" --model "$fx/$model" --input "$fx/$input.fasta" --pool "$pool"
      done
    done
  done
  run_case esm2_a.proteins.mean.batches --model "$fx/esm2_a" --input "$fx/proteins.fasta" --max-tokens 1024
  run_case esm2_a.proteins.none.devices --model "$fx/esm2_a" --input "$fx/proteins.fasta" --pool none \
    --devices 0,0 --max-tokens 2048
  run_case esm2_a.dna.translate6 --model "$fx/esm2_a" --input "$fx/dna_reads.fasta" --translate 6
  for model in dnabert2_a dnabert2_b; do
    for pool in mean cls none; do
      run_case "$model.dna.$pool" --model "$fx/$model" --input "$fx/dna_reads.fasta" --pool "$pool"
    done
  done
  run_case dnabert2_a.dna.mean.batches --model "$fx/dnabert2_a" --input "$fx/dna_reads.fasta" --max-tokens 512
} >"$work/hashes.txt"

if [[ -z $check ]]; then
  cat "$work/hashes.txt"
  exit 0
fi
if diff -u "$check" "$work/hashes.txt" >"$work/diff.txt"; then
  echo "output_hashes: $(wc -l <"$work/hashes.txt") output files byte-identical to $check ($backend $dtype)"
else
  echo "output_hashes: outputs differ from $check ($backend $dtype):" >&2
  cat "$work/diff.txt" >&2
  exit 1
fi
