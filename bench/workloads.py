#!/usr/bin/env python3
"""Writes a benchmark workload: a FASTA file of random proteins (the 20 standard amino acids, uniform) whose
lengths follow one of two distributions. Same --kind/--n/--seed -> byte-identical file.

    uniprot  log-normal residue counts, median 330 (mu = ln 330), sigma 0.6, rounded, clipped to 30..1022.
             UniProtKB/Swiss-Prot has a median length near 300-350 aa and a long right tail; sigma 0.6 gives
             an interquartile range of about 220..490 aa and a mean of about 383 aa after clipping. Lengths
             above 1022 are set to 1022 (about 3% of records), which is what truncation to ESM-2's
             1022-residue window (fair-esm, ribo's default --truncate) does to real long proteins anyway.
    short    uniform integer residue counts in 30..166 inclusive (the VirNucPro workload: short translated
             fragments; 166 aa is about 500 bp of DNA).

Usage:
    python3 bench/workloads.py --kind uniprot --n 20000 --seed 1 --out /tmp/uniprot.fasta

Records are '>{kind}_{index:07d} len={L}' followed by the sequence wrapped at 60 columns (as UniProt does).
A summary (count, residues, tokens incl. <cls>/<eos>, length quantiles, SHA-256 of the file) goes to stderr.
numpy's Generator(PCG64) is used; its streams are stable across numpy versions, and the SHA-256 makes any
difference visible.
"""

import argparse
import hashlib
import sys

import numpy as np

AMINO_ACIDS = np.frombuffer(b"ACDEFGHIKLMNPQRSTVWY", dtype=np.uint8)  # the 20 standard residues

UNIPROT_MEDIAN = 330
UNIPROT_SIGMA = 0.6
MIN_LEN, MAX_LEN = 30, 1022          # uniprot clip range (1022 = ESM-2 residue window)
SHORT_MIN, SHORT_MAX = 30, 166       # short: uniform, inclusive
WRAP = 60


def sample_lengths(kind, n, rng):
    """Residue counts (int64 array of n) for the given distribution."""
    if kind == "uniprot":
        z = rng.standard_normal(n)
        lengths = np.rint(np.exp(np.log(UNIPROT_MEDIAN) + UNIPROT_SIGMA * z)).astype(np.int64)
        return np.clip(lengths, MIN_LEN, MAX_LEN)
    if kind == "short":
        return rng.integers(SHORT_MIN, SHORT_MAX, size=n, endpoint=True, dtype=np.int64)
    raise ValueError(f"unknown kind {kind!r}")


def write_fasta(path, kind, lengths, rng):
    """Draws all residues at once (one uniform draw per residue) and writes the records."""
    residues = AMINO_ACIDS[rng.integers(0, len(AMINO_ACIDS), size=int(lengths.sum()), dtype=np.int64)]
    text = residues.tobytes().decode("ascii")
    h = hashlib.sha256()
    with open(path, "w", newline="\n") as f:
        pos = 0
        for i, L in enumerate(lengths.tolist()):
            seq = text[pos:pos + L]
            pos += L
            rec = f">{kind}_{i:07d} len={L}\n" + "".join(seq[j:j + WRAP] + "\n" for j in range(0, L, WRAP))
            f.write(rec)
            h.update(rec.encode("ascii"))
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description="Writes a random-protein FASTA benchmark workload.")
    ap.add_argument("--kind", required=True, choices=["uniprot", "short"])
    ap.add_argument("--n", type=int, required=True, help="number of sequences")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True, help="output FASTA path")
    args = ap.parse_args()
    if args.n <= 0:
        ap.error("--n must be positive")

    rng = np.random.Generator(np.random.PCG64(args.seed))
    lengths = sample_lengths(args.kind, args.n, rng)
    digest = write_fasta(args.out, args.kind, lengths, rng)

    q = np.percentile(lengths, [0, 25, 50, 75, 95, 100]).astype(int).tolist()
    print(f"{args.out}: kind={args.kind} n={args.n} seed={args.seed} residues={int(lengths.sum())} "
          f"tokens(+cls/eos)={int(lengths.sum()) + 2 * args.n} mean={lengths.mean():.1f} "
          f"min/q25/median/q75/q95/max={'/'.join(map(str, q))} "
          f"clipped_to_{MAX_LEN}={int((lengths == MAX_LEN).sum()) if args.kind == 'uniprot' else 0} "
          f"sha256={digest}", file=sys.stderr)


if __name__ == "__main__":
    main()
