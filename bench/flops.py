#!/usr/bin/env python3
"""FLOP count of an ESM-2 forward pass, shared by the HuggingFace benchmark and the ribo side.

Per sequence of L tokens (residues + <cls> + <eos>, no padding), hidden H, intermediate I, N layers:

    N * (2*L*(4*H*H + 2*H*I) + 4*L*L*H)

    2*L*4*H*H   Q, K, V and output projections (4 matmuls of [L,H] x [H,H], 2 FLOPs per multiply-add)
    2*L*2*H*I   the MLP (up [L,H] x [H,I] and down [L,I] x [I,H])
    4*L*L*H     attention: Q K^T ([L,d] x [d,L] per head, summed over heads = 2*L*L*H) and P V (same again)

Only these matmuls are counted: embeddings, LayerNorms, softmax, GELU, rotary, biases, the final LayerNorm and
pooling are left out (a few percent at most). FLOPs spent on padding are NOT counted: the figure is useful work,
so a padded engine and a packed engine are compared on the same numerator.

Library use:
    from flops import esm2_forward_flops, esm2_total_flops, model_dims
    total = esm2_total_flops(lengths_with_specials, **model_dims("model_dir"))

CLI (e.g. to turn a ribo wall time into TFLOP/s on the same workload):
    python3 bench/flops.py --model DIR --fasta FILE.fasta [--seconds S] [--truncate 1022]
prints the token count (incl. <cls>/<eos>), total FLOPs, and TFLOP/s when --seconds is given.
"""

import argparse
import json
import os


def esm2_forward_flops(L, hidden, intermediate, layers):
    """FLOPs of one forward pass over one sequence of L tokens (specials included)."""
    H, I, N = int(hidden), int(intermediate), int(layers)
    L = int(L)
    return N * (2 * L * (4 * H * H + 2 * H * I) + 4 * L * L * H)


def esm2_total_flops(lengths, hidden, intermediate, layers):
    """Sum of esm2_forward_flops over a list of token lengths (specials included). Python ints: no overflow."""
    return sum(esm2_forward_flops(L, hidden, intermediate, layers) for L in lengths)


def model_dims(model_dir_or_config):
    """{'hidden', 'intermediate', 'layers'} from a model directory or a config.json path."""
    path = model_dir_or_config
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    with open(path) as f:
        cfg = json.load(f)
    return {"hidden": cfg["hidden_size"], "intermediate": cfg["intermediate_size"],
            "layers": cfg["num_hidden_layers"]}


def read_fasta(path):
    """[(id, sequence)] of a plain-text FASTA (multi-line records; id = first word of the header)."""
    recs, rid, parts = [], None, []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            if line.startswith(">"):
                if rid is not None:
                    recs.append((rid, "".join(parts)))
                rid, parts = (line[1:].split() or [""])[0], []
            else:
                parts.append(line)
    if rid is not None:
        recs.append((rid, "".join(parts)))
    return recs


def fasta_residue_counts(path):
    """Residue count of each record of a FASTA file."""
    return [len(seq) for _, seq in read_fasta(path)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model directory (or its config.json)")
    ap.add_argument("--fasta", required=True)
    ap.add_argument("--truncate", type=int, default=1022, help="residues kept per sequence (as ribo/fair-esm)")
    ap.add_argument("--seconds", type=float, help="wall time of the run, to print TFLOP/s")
    args = ap.parse_args()
    dims = model_dims(args.model)
    lengths = [min(n, args.truncate) + 2 for n in fasta_residue_counts(args.fasta)]  # + <cls>, <eos>
    total = esm2_total_flops(lengths, **dims)
    out = {"sequences": len(lengths), "tokens": sum(lengths), "flops": total, **dims}
    if args.seconds:
        out["seconds"] = args.seconds
        out["tflops_per_s"] = total / args.seconds / 1e12
        out["tokens_per_s"] = sum(lengths) / args.seconds
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
