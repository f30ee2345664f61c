#!/usr/bin/env python3
"""Measures the dense bf16 matmul peak of the GPU through torch (cuBLAS/cuBLASLt): the ceiling that the
ESM-2 TFLOP/s figures of ribo and HuggingFace are read against.

    C = A @ B with A [M, K], B [K, N] random normal bf16 (default M = N = K = 8192); 3 warm-up runs, 20 timed runs
    each between two CUDA events; the median time gives TFLOP/s = 2*M*N*K / t. min/max are reported too.

Usage:
    python3 bench/cublas_peak.py [--size 8192] [--json OUT.json]
    python3 bench/cublas_peak.py --device cpu --size 512 --dtype fp32    # smoke test (perf_counter timing)
"""

import argparse
import json
import platform
import statistics
import time

import torch

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def main():
    ap = argparse.ArgumentParser(description="bf16 GEMM peak through torch.matmul.")
    ap.add_argument("--size", type=int, default=8192, help="M = N = K")
    ap.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--json", help="write the result here")
    args = ap.parse_args()

    device = torch.device(args.device)
    cuda = device.type == "cuda"
    n = args.size
    gen = torch.Generator(device=device).manual_seed(0)
    a = torch.randn((n, n), generator=gen, device=device, dtype=torch.float32).to(DTYPES[args.dtype])
    b = torch.randn((n, n), generator=gen, device=device, dtype=torch.float32).to(DTYPES[args.dtype])
    c = torch.empty((n, n), device=device, dtype=DTYPES[args.dtype])

    for _ in range(args.warmup):
        torch.matmul(a, b, out=c)
    if cuda:
        torch.cuda.synchronize(device)

    times = []  # seconds per run
    for _ in range(args.iters):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            torch.matmul(a, b, out=c)
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            torch.matmul(a, b, out=c)
            times.append(time.perf_counter() - t0)

    flops = 2.0 * n * n * n
    med = statistics.median(times)
    res = {
        "m": n, "n": n, "k": n, "dtype": args.dtype, "warmup": args.warmup, "iters": args.iters,
        "median_s": med, "min_s": min(times), "max_s": max(times),
        "tflops_per_s": flops / med / 1e12, "tflops_per_s_best": flops / min(times) / 1e12,
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "torch": torch.__version__, "cuda": torch.version.cuda,
    }
    print(f"{res['device']}: {args.dtype} {n}x{n}x{n} matmul: median {med * 1e3:.3f} ms = "
          f"{res['tflops_per_s']:.2f} TFLOP/s (best {res['tflops_per_s_best']:.2f}; {args.iters} runs)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
