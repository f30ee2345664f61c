#!/usr/bin/env bash
# Sets everything up and runs the main job on the bundled example: a tiny random-weight ESM-2
# model in HuggingFace layout (tests/fixtures/esm2_a) and 40 proteins of 1..1030 residues.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install_deps.sh
bash scripts/build.sh
./build/ribo devices
./build/ribo info --model tests/fixtures/esm2_a
./build/ribo embed --model tests/fixtures/esm2_a --input tests/fixtures/proteins.fasta --output example_out.npy
echo "wrote example_out.npy ($(stat -c %s example_out.npy) bytes) and example_out.ids.txt ($(wc -l < example_out.ids.txt) ids)"
if python3 -c "import numpy" 2>/dev/null; then
  python3 tools/compare_embeddings.py example_out.npy --ref tests/fixtures/esm2_a.ref_mean.npy \
    --ids example_out.ids.txt --ref-ids tests/fixtures/proteins.ids.txt
fi
