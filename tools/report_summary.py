#!/usr/bin/env python3
"""One paragraph from a `ribo embed --report` JSON: throughput, per-device stream busy fractions,
compute wait on input, peak memory and the bottleneck verdict.

    python3 tools/report_summary.py run.json [label]"""
import json
import sys


def main():
    r = json.load(open(sys.argv[1]))
    label = sys.argv[2] if len(sys.argv) > 2 else sys.argv[1]
    t = r.get("totals", {})
    print(f"{label}: mode {r.get('mode')}; " + ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in t.items()))
    print(f"  stages (s): " + ", ".join(f"{k} {v:.3f}" for k, v in r.get("stage_seconds", {}).items()))
    for d in r.get("devices", []):
        busy = d.get("stream_busy_fraction", {})
        mem = d.get("memory", {})
        wait = d.get("compute_waited_for_input_s", 0.0)
        comp = d.get("stream_seconds", {}).get("compute", 0.0)
        print(f"  {d.get('device')}: {d.get('batches')} batches, busy h2d {busy.get('h2d', 0):.1%} compute "
              f"{busy.get('compute', 0):.1%} d2h {busy.get('d2h', 0):.1%}; compute waited for input {wait:.3f} s; "
              f"peak device memory {mem.get('peak_allocated_bytes', 0) / 2**30:.2f} GiB")
    print(f"  bottleneck: {r.get('bottleneck')}")


if __name__ == "__main__":
    main()
