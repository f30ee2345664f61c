#!/usr/bin/env python3
"""Per-batch compute-stream durations from a `ribo embed --trace` file: the first few batches, the median,
and the sum, to tell one-time costs (slow first batches) from steady-state speed.

Usage: python3 tools/trace_batches.py TRACE.json [--first 3]
"""
import argparse
import json
import statistics


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("trace")
    ap.add_argument("--first", type=int, default=3)
    args = ap.parse_args()
    t = json.load(open(args.trace))
    ev = t["traceEvents"] if isinstance(t, dict) else t
    comp = sorted((e for e in ev if e.get("cat") == "compute" and e.get("ph") == "X"), key=lambda e: e["ts"])
    if not comp:
        print(f"{args.trace}: no compute events")
        return
    ms = [e["dur"] / 1000 for e in comp]
    toks = [e["args"].get("tokens", 0) for e in comp]
    first = ", ".join(f"{m:.1f} ms ({k} tok)" for m, k in zip(ms[: args.first], toks[: args.first]))
    med = statistics.median(ms)
    steady = sum(toks) / (med * len(ms) / 1000) if med > 0 else 0
    print(f"{len(ms)} batches: first {first}; median {med:.1f} ms; sum {sum(ms):.1f} ms; "
          f"tokens/s at the median batch time {steady:,.0f}")


if __name__ == "__main__":
    main()
