#!/usr/bin/env bash
# Sets everything up and runs the main job on the bundled examples: tiny random-weight models in
# HuggingFace layout — ESM-2 (tests/fixtures/esm2_a) on 40 proteins of 1..1030 residues, and DNABERT-2
# (tests/fixtures/dnabert2_a) on 40 DNA reads — checked against their float64 references (fp32 runs,
# so the check holds on a GPU too, where the default would be bf16).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
./build/ribo devices
./build/ribo info --model tests/fixtures/esm2_a
./build/ribo embed --model tests/fixtures/esm2_a --input tests/fixtures/proteins.fasta --output example_out.npy \
  --dtype fp32
echo "wrote example_out.npy ($(stat -c %s example_out.npy) bytes) and example_out.ids.txt ($(wc -l < example_out.ids.txt) ids)"
./build/ribo info --model tests/fixtures/dnabert2_a
./build/ribo embed --model tests/fixtures/dnabert2_a --input tests/fixtures/dna_reads.fasta --output example_dna.npy \
  --dtype fp32
if python3 -c "import numpy" 2>/dev/null; then
  python3 tools/compare_embeddings.py example_out.npy --ref tests/fixtures/esm2_a.ref_mean.npy \
    --ids example_out.ids.txt --ref-ids tests/fixtures/proteins.ids.txt
  python3 tools/compare_embeddings.py example_dna.npy --ref tests/fixtures/dnabert2_a.ref_mean.npy \
    --ids example_dna.ids.txt --ref-ids tests/fixtures/dna_reads.ids.txt
fi
