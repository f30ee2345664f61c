#!/usr/bin/env python3
"""Compares ribo embedding output with a reference, row by row (pooled) or sequence by sequence (per-residue).

    compare_embeddings.py OUT.npy|OUT.h5 --ref REF.npy [--ids OUT.ids.txt --ref-ids REF.ids.txt]
                          [--offsets OUT.offsets.npy --ref-offsets REF.offsets.npy]
                          [--max-rel 1e-4] [--min-cos 0.99999]

Pooled ([N, D]): for every row, relative L2 error ||a - r|| / ||r|| and cosine(a, r).
Per-residue ([T, D] token rows + offsets int64 [N+1]; OUT.npy with OUT.offsets.npy, or OUT.h5 with datasets
"tokens" + "offsets"): both offset arrays must be equal (same sequences, same token counts); for every
sequence, the relative Frobenius error over its token rows and the smallest cosine of any of its rows.

Files found automatically when not given: OUT.ids.txt / OUT.offsets.npy next to OUT.npy (the ids/offsets of an
.h5 come from its "ids"/"offsets" datasets); REF's offsets at REF with "tokens" -> "offsets" in its name
(esm2_a.ref_tokens.npy -> esm2_a.ref_offsets.npy) or REF.offsets.npy. Ids are compared (in order) when both
sides have them. --ref may also be an .h5.

Prints the failing rows (at most --show) and a one-line summary: n rows, worst relative error, worst cosine.
Exit status: 0 all rows pass, 1 a row fails / shapes, offsets or ids differ, 2 usage or file errors.
"""

import argparse
import os
import sys

import numpy as np


class InputError(Exception):
    pass


def _stem(path):
    return path[:-len(".npy")] if path.endswith(".npy") else os.path.splitext(path)[0]


def read_ids(path):
    with open(path, "r", encoding="utf-8", newline="") as f:
        text = f.read()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def load_npy(path):
    try:
        return np.load(path, allow_pickle=False)
    except Exception as e:  # noqa: BLE001
        raise InputError(f"{path}: cannot read .npy: {e}")


def load(path, ids_path=None, offsets_path=None, is_ref=False):
    """Returns (array float64 2-D, offsets int64 or None, ids list or None)."""
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    if path.endswith(".h5") or path.endswith(".hdf5"):
        try:
            import h5py
        except ImportError:
            raise InputError("h5py is needed to read .h5 files (pip install h5py)")
        try:
            with h5py.File(path, "r") as f:
                if "tokens" in f:
                    if "offsets" not in f:
                        raise InputError(f"{path}: has 'tokens' but no 'offsets' dataset")
                    arr, offsets = f["tokens"][()], f["offsets"][()]
                elif "embeddings" in f:
                    arr, offsets = f["embeddings"][()], None
                else:
                    raise InputError(f"{path}: neither an 'embeddings' nor a 'tokens' dataset "
                                     f"(has: {', '.join(f.keys())})")
                ids = None
                if "ids" in f:
                    ids = [x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in f["ids"][()]]
        except InputError:
            raise
        except Exception as e:  # noqa: BLE001
            raise InputError(f"{path}: cannot read HDF5: {e}")
        if offsets_path:
            offsets = load_npy(offsets_path)
        if ids_path:
            ids = read_ids(ids_path)
    else:
        arr = load_npy(path)
        if offsets_path is None:
            cands = [_stem(path) + ".offsets.npy"]
            base = os.path.basename(path)
            if is_ref and "tokens" in base:
                cands.insert(0, os.path.join(os.path.dirname(path), base.replace("tokens", "offsets")))
            offsets_path = next((c for c in cands if os.path.exists(c)), None)
        offsets = load_npy(offsets_path) if offsets_path else None
        if ids_path is None and os.path.exists(_stem(path) + ".ids.txt"):
            ids_path = _stem(path) + ".ids.txt"
        ids = read_ids(ids_path) if ids_path else None
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise InputError(f"{path}: expected a 2-D array, got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise InputError(f"{path}: expected floating-point data, got {arr.dtype}")
    if offsets is not None:
        offsets = np.asarray(offsets)
        if offsets.ndim != 1 or not np.issubdtype(offsets.dtype, np.integer) or len(offsets) < 1:
            raise InputError(f"{path}: offsets must be a 1-D integer array, got {offsets.dtype} {offsets.shape}")
        offsets = offsets.astype(np.int64)
        if offsets[0] != 0 or np.any(np.diff(offsets) < 0) or offsets[-1] != arr.shape[0]:
            raise InputError(f"{path}: offsets are not 0 = o[0] <= ... <= o[N] = {arr.shape[0]} "
                             f"(first {offsets[0]}, last {offsets[-1]})")
    return arr.astype(np.float64), offsets, ids


def rel_err(a, r):
    nr = np.linalg.norm(r)
    d = np.linalg.norm(a - r)
    return d / nr if nr > 0 else d


def cosine(a, r):
    na, nr = np.linalg.norm(a), np.linalg.norm(r)
    if na == 0 or nr == 0:
        return 1.0 if na == nr else 0.0
    return float(np.dot(a, r) / (na * nr))


def row_cosines(A, R):
    na, nr = np.linalg.norm(A, axis=1), np.linalg.norm(R, axis=1)
    dot = np.einsum("ij,ij->i", A, R)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = dot / (na * nr)
    c = np.where((na == 0) & (nr == 0), 1.0, c)
    c = np.where((na == 0) ^ (nr == 0), 0.0, c)
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", help="ribo output: X.npy (pooled or per-residue with X.offsets.npy) or X.h5")
    ap.add_argument("--ref", required=True, help="reference .npy (float64 [N, D] pooled or [R, D] token rows)")
    ap.add_argument("--ids", help="ids of OUT, one per line (default: X.ids.txt next to X.npy if present)")
    ap.add_argument("--ref-ids", help="ids of the reference rows, one per line")
    ap.add_argument("--offsets", help="OUT's offsets int64 [N+1] (default: X.offsets.npy next to X.npy if present)")
    ap.add_argument("--ref-offsets", help="reference offsets int64 [N+1] (default: found next to --ref)")
    ap.add_argument("--max-rel", type=float, default=1e-4, help="largest allowed relative L2 error (1e-4)")
    ap.add_argument("--min-cos", type=float, default=0.99999, help="smallest allowed cosine (0.99999)")
    ap.add_argument("--show", type=int, default=10, help="print at most this many failing rows (10)")
    args = ap.parse_args(argv)

    try:
        out, out_off, out_ids = load(args.out, args.ids, args.offsets)
        ref, ref_off, ref_ids = load(args.ref, args.ref_ids, args.ref_offsets, is_ref=True)
    except (InputError, OSError) as e:
        print(f"compare_embeddings: error: {e}", file=sys.stderr)
        return 2

    per_residue = out_off is not None
    problems = []
    if out.shape != ref.shape:
        problems.append(f"shape mismatch: {args.out} {out.shape} vs reference {ref.shape}")
    if per_residue:
        if ref_off is None:
            print(f"compare_embeddings: error: {args.out} is per-residue (has offsets) but no reference offsets "
                  f"were found for {args.ref}; pass --ref-offsets", file=sys.stderr)
            return 2
        if out_off.shape != ref_off.shape or not np.array_equal(out_off, ref_off):
            n_o, n_r = len(out_off) - 1, len(ref_off) - 1
            msg = f"offsets differ: {n_o} sequences vs {n_r} in the reference"
            if n_o == n_r:
                i = int(np.nonzero(np.diff(out_off) != np.diff(ref_off))[0][0])
                msg += (f"; first different token count at sequence {i}: {out_off[i + 1] - out_off[i]} vs "
                        f"{ref_off[i + 1] - ref_off[i]}")
            problems.append(msg)
    n_seqs = (len(out_off) - 1) if per_residue else out.shape[0]
    if out_ids is not None and len(out_ids) != n_seqs:
        problems.append(f"{len(out_ids)} ids for {n_seqs} {'sequences' if per_residue else 'rows'} in {args.out}")
    if out_ids is not None and ref_ids is not None and out_ids != ref_ids:
        if len(out_ids) != len(ref_ids):
            problems.append(f"ids differ: {len(out_ids)} vs {len(ref_ids)} in the reference")
        else:
            i = next(k for k, (a, b) in enumerate(zip(out_ids, ref_ids)) if a != b)
            problems.append(f"ids differ: row {i} is '{out_ids[i]}', reference '{ref_ids[i]}'")
    elif (args.ref_ids or args.ids) and (out_ids is None or ref_ids is None):
        problems.append("ids cannot be checked: " + ("OUT has no ids" if out_ids is None else "reference has no ids"))

    if problems:
        for p in problems:
            print(f"FAIL {p}")
        print(f"compare_embeddings: FAIL ({'; '.join(problems)})")
        return 1

    names = out_ids if out_ids is not None else ref_ids
    rels, coss = [], []
    if per_residue:
        for i in range(n_seqs):
            A, R = out[out_off[i]:out_off[i + 1]], ref[ref_off[i]:ref_off[i + 1]]
            rels.append(rel_err(A, R) if len(R) else 0.0)
            coss.append(float(np.min(row_cosines(A, R))) if len(R) else 1.0)
    else:
        for i in range(n_seqs):
            rels.append(rel_err(out[i], ref[i]))
            coss.append(cosine(out[i], ref[i]))
    rels, coss = np.array(rels, dtype=np.float64), np.array(coss, dtype=np.float64)
    finite = np.array([np.all(np.isfinite(out[out_off[i]:out_off[i + 1]] if per_residue else out[i]))
                       for i in range(n_seqs)], dtype=bool)
    # NaN-safe: a row passes only if both comparisons are true
    ok = finite & (rels <= args.max_rel) & (coss >= args.min_cos)
    bad = np.nonzero(~ok)[0]
    unit = "sequence" if per_residue else "row"
    for i in bad[:args.show]:
        name = f" id {names[i]}" if names is not None else ""
        extra = "" if finite[i] else " non-finite values"
        print(f"FAIL {unit} {i}{name}: rel err {rels[i]:.3e} cos {coss[i]:.9f} (1-cos {1 - coss[i]:.2e}){extra}")
    if len(bad) > args.show:
        print(f"... {len(bad) - args.show} more failing {unit}s")

    def where(i):
        return f"{unit} {i}" + (f" {names[i]}" if names is not None else "")

    if n_seqs:
        with np.errstate(invalid="ignore"):
            wr = int(np.nanargmax(np.where(np.isnan(rels), np.inf, rels)))
            wc = int(np.nanargmin(np.where(np.isnan(coss), -np.inf, coss)))
        worst = (f"worst rel err {rels[wr]:.3e} ({where(wr)}), worst cos {coss[wc]:.12f} "
                 f"(1-cos {1 - coss[wc]:.2e}, {where(wc)})")
    else:
        worst = "nothing to compare"
    mode = f"per-residue, {out.shape[0]} token rows" if per_residue else "pooled"
    status = "OK" if len(bad) == 0 else f"FAIL ({len(bad)} of {n_seqs} {unit}s)"
    print(f"compare_embeddings: {status}: n={n_seqs} {unit}s ({mode}, dim {out.shape[1]}), {worst}; "
          f"limits max-rel {args.max_rel:g} min-cos {args.min_cos:g}")
    return 0 if len(bad) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
