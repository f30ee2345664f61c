#!/usr/bin/env python3
"""Summarizes a `ribo embed --trace` file: per pipeline, how busy each stream was and how much of the
H2D and D2H time ran while the compute stream was busy (overlap), plus the compute stream's gaps.

    python3 tools/trace_overlap.py trace.json

Only the standard library is used. Spans come from the device events of every batch."""
import json
import sys


def merge(spans):
    """Union of [t0, t1) intervals, sorted."""
    out = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def overlap(spans, busy):
    """Time of `spans` that falls inside the union `busy`."""
    total = 0.0
    for a, b in spans:
        for c, d in busy:
            if c >= b:
                break
            total += max(0.0, min(b, d) - max(a, c))
    return total


def main(path):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    names = {e["pid"]: e["args"]["name"] for e in events if e.get("ph") == "M" and e["name"] == "process_name"}
    spans = {}
    for e in events:
        if e.get("ph") != "X" or e["pid"] == 0:
            continue
        spans.setdefault(e["pid"], {}).setdefault(e["cat"], []).append((e["ts"], e["ts"] + e["dur"]))
    for pid in sorted(spans):
        s = spans[pid]
        compute = merge(s.get("compute", []))
        t0 = min(a for v in s.values() for a, _ in v)
        t1 = max(b for v in s.values() for _, b in v)
        wall = max(t1 - t0, 1e-9)
        print(f"{names.get(pid, pid)}: {len(s.get('compute', []))} batches over {wall / 1e6:.3f} s")
        for cat in ("h2d", "compute", "d2h"):
            busy = sum(b - a for a, b in merge(s.get(cat, [])))
            line = f"  {cat:8s} busy {busy / 1e6:9.4f} s ({100 * busy / wall:5.1f}% of the wall time)"
            if cat != "compute" and busy > 0:
                ov = overlap(s.get(cat, []), compute)
                line += f", {100 * ov / busy:5.1f}% of it while compute ran"
            print(line)
        gaps = sum(max(0.0, b[0] - a[1]) for a, b in zip(compute, compute[1:]))
        print(f"  compute stream idle between batches {gaps / 1e6:.4f} s ({100 * gaps / wall:.1f}%)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: trace_overlap.py trace.json")
    main(sys.argv[1])
