#!/usr/bin/env python3
"""Sums an `ncu --csv --metrics gpu__time_duration.sum` log per kernel: count, total ms, mean us, share.

Usage: python3 tools/ncu_summary.py NCU.csv [--top 25]
"""
import argparse
import collections
import csv
import io


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    text = open(args.csv, errors="replace").read()
    start = text.find('"ID"')
    if start < 0:
        print(f"{args.csv}: no ncu CSV table in it")
        return
    total = collections.defaultdict(float)
    count = collections.Counter()
    grids = {}
    for row in csv.DictReader(io.StringIO(text[start:])):
        if row.get("Metric Name") != "gpu__time_duration.sum":
            continue
        name = row["Kernel Name"]
        short = name.split("(")[0][:110]
        unit = row.get("Metric Unit", "ns")
        v = float(row["Metric Value"].replace(",", ""))
        scale = {"ns": 1e-6, "nsecond": 1e-6, "us": 1e-3, "usecond": 1e-3, "ms": 1.0, "msecond": 1.0}.get(unit, 1e-6)
        total[short] += v * scale
        count[short] += 1
        grids.setdefault(short, (row.get("Grid Size", ""), row.get("Block Size", "")))
    all_ms = sum(total.values())
    print(f"{'kernel':110s} {'n':>5s} {'total ms':>9s} {'mean us':>9s} {'share':>6s}  grid/block")
    for k, v in sorted(total.items(), key=lambda kv: -kv[1])[: args.top]:
        print(f"{k:110s} {count[k]:5d} {v:9.3f} {1000 * v / count[k]:9.1f} {100 * v / all_ms:5.1f}%  {grids[k][0]} {grids[k][1]}")
    print(f"all kernels: {sum(count.values())} launches, {all_ms:.3f} ms")


if __name__ == "__main__":
    main()
