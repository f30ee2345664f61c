#!/usr/bin/env python3
"""cuBLAS (through PyTorch) on the GEMM shapes of one ESM-2 forward, as a yardstick for ribo's own GEMMs.

For each shape (tokens M, out N, in K) of an ESM-2 layer -- QKV (3d x d), attention out (d x d), FFN up (4d x d),
FFN down (d x 4d) -- times F.linear(x, w, b) in bf16 on random data (CUDA events, median of 20 after 5 warm-ups,
two input sets rotated so the inputs are not served from L2), and the exact-erf GELU over the FFN-up output.
Prints TFLOP/s and GB/s per shape and the sum over one layer.

Usage (GPU): python3 bench/gemm_shapes.py --hidden 320 --tokens 65536 [--json OUT]
"""
import argparse
import json

import torch
import torch.nn.functional as F


def time_ms(fn, reps=20, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, action="append", required=True)
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--json")
    args = ap.parse_args()
    dt = torch.bfloat16
    rows = []
    for d in args.hidden:
        shapes = [("qkv", 3 * d, d), ("attn_out", d, d), ("ffn_up", 4 * d, d), ("ffn_down", d, 4 * d)]
        total = 0.0
        for name, n, k in shapes:
            xs = [torch.randn(args.tokens, k, device="cuda", dtype=dt) for _ in range(2)]
            w = torch.randn(n, k, device="cuda", dtype=dt) / k ** 0.5
            bias = torch.randn(n, device="cuda", dtype=dt)
            state = {"i": 0}

            def run():
                state["i"] ^= 1
                return F.linear(xs[state["i"]], w, bias)

            ms = time_ms(run)
            flops = 2.0 * args.tokens * n * k
            nbytes = 2.0 * (args.tokens * k + n * k + args.tokens * n)
            total += ms
            rows.append({"hidden": d, "op": name, "m": args.tokens, "n": n, "k": k, "ms": ms,
                         "tflops": flops / ms / 1e9, "gbs": nbytes / ms / 1e6})
            print(f"d={d:5d} {name:9s} {args.tokens}x{n}x{k}: {ms:7.3f} ms {flops / ms / 1e9:6.1f} TFLOP/s "
                  f"{nbytes / ms / 1e6:6.0f} GB/s")
        h = torch.randn(args.tokens, 4 * d, device="cuda", dtype=dt)
        ms = time_ms(lambda: F.gelu(h))
        total += ms
        rows.append({"hidden": d, "op": "gelu", "ms": ms, "gbs": 4.0 * h.numel() / ms / 1e6})
        print(f"d={d:5d} gelu(erf) {args.tokens}x{4 * d}: {ms:7.3f} ms {4.0 * h.numel() / ms / 1e6:6.0f} GB/s")
        print(f"d={d:5d} one layer's GEMMs + GELU: {total:.3f} ms")
        del xs, h
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
