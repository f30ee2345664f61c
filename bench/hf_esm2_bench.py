#!/usr/bin/env python3
"""HuggingFace transformers baseline for ESM-2 mean-pooled embeddings, the reference ribo is compared against.

What is measured (per token budget):
    1. The FASTA is read and tokenized (EsmTokenizer ids, <cls> + residues + <eos>, truncated to --max-length
       tokens = 1022 residues, as ribo and fair-esm do). Untimed.
    2. Sequences are sorted by length (longest first) and cut into batches under a padded-token budget:
       batch_size * max_len_in_batch <= budget. Each batch is padded (<pad> = 1) into CPU tensors. Untimed.
    3. Warm-up (--warmup, default 'all'): one untimed pass over every batch of this budget. Every batch of a
       length-sorted run has its own [B, T] shape, and the first time PyTorch/cuBLAS/SDPA meet a shape costs
       extra: measured on an H200 (2000 uniprot-like sequences), the first pass took 2.3 s vs 0.34 s warm for
       the 8M shape and 6.7 s vs 4.8 s for 650M; warming only the first 3 batches left most of that in the
       timed pass. A long job sees the same shapes again and again, so the warm pass is the fair (and
       HF-favourable) figure; the cold pass is kept in the JSON as warmup_s. --warmup N warms only the
       first N batches (the longest).
    4. Timed: every batch, in order: input_ids/attention_mask to the GPU, EsmModel forward under
       torch.inference_mode() (bf16 weights, SDPA attention), mean over residues (<cls>/<eos>/padding excluded,
       accumulated in fp32 on the GPU), and .float().cpu() of the [B, hidden] result into a host array.
       torch.cuda.synchronize() + time.perf_counter() around the whole loop. --repeats passes; the fastest counts.
The budget with the most tokens/s is "best". A budget that runs out of GPU memory is recorded as "oom".

Reported figures (all counted like ribo counts them):
    tokens/s       real tokens incl. <cls>/<eos>, padding excluded, / timed seconds
    sequences/s
    padded_frac    padding tokens / all tokens in the padded batches
    peak memory    torch.cuda.max_memory_allocated() over warm-up + timed passes (weights included)
    TFLOP/s        bench/flops.py's count of the useful (unpadded) forward FLOPs / timed seconds

Usage (GPU):
    python3 bench/hf_esm2_bench.py --model DIR --fasta FILE.fasta [--budgets 16384,32768,65536] --json OUT.json
CPU smoke test (tiny model, fp32 or bf16):
    python3 bench/hf_esm2_bench.py --model DIR --fasta FILE.fasta --device cpu --budgets 2048,4096 --limit 20

--save-npy OUT.npy writes the best budget's embeddings (float32 [N, hidden], input order) and OUT.ids.txt, the
layout of `ribo embed --output OUT.npy`, so tools/compare_embeddings.py can check ribo against HF on the same model.
"""

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from transformers import EsmModel, EsmTokenizer  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flops import esm2_total_flops, model_dims, read_fasta  # noqa: E402

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


# ------------------------------------------------------------------------------------------------ input


def tokenize(tok, seqs, max_length, mode):
    """Token ids (lists, <cls> ... <eos>) of every sequence, truncated to max_length tokens.

    mode 'hf':    EsmTokenizer.__call__ on everything (a pure-Python tokenizer: ~1.5 ms per 400-residue sequence).
    mode 'vocab': the same EsmTokenizer vocabulary applied character by character (what EsmTokenizer does for
                  plain residue strings), checked against EsmTokenizer.__call__ on up to 256 sequences (the
                  longest and a spread of others); sequences with '<' (special tokens) or characters outside the
                  vocabulary go through EsmTokenizer. Same ids, much faster for 100k sequences.
    """
    def hf(batch):
        return tok(batch, truncation=True, max_length=max_length, add_special_tokens=True)["input_ids"]

    if mode == "hf":
        return hf(seqs)
    vocab = tok.get_vocab()
    cls_id, eos_id = tok.cls_token_id, tok.eos_token_id
    keep = max_length - 2
    ids = []
    for s in seqs:
        if "<" in s or any(c not in vocab for c in set(s)):
            ids.append(hf([s])[0])
        else:
            ids.append([cls_id] + [vocab[c] for c in s[:keep]] + [eos_id])
    # Check against the real tokenizer on a sample (longest + evenly spread).
    sample = sorted(set([max(range(len(seqs)), key=lambda i: len(seqs[i]))] +
                        list(range(0, len(seqs), max(1, len(seqs) // 255)))))
    ref = hf([seqs[i] for i in sample])
    bad = [i for i, r in zip(sample, ref) if r != ids[i]]
    if bad:
        sys.exit(f"vocab tokenization differs from EsmTokenizer on record {bad[0]}; use --tokenize hf")
    return ids


def make_batches(lengths, budget):
    """Greedy batches of indices over sequences sorted longest-first, each with len(batch) * max_len <= budget.

    A sequence longer than the budget forms a batch by itself. Returns a list of index arrays.
    """
    order = np.argsort(-np.asarray(lengths), kind="stable")
    batches, cur, cur_max = [], [], 0
    for i in order.tolist():
        L = lengths[i]
        new_max = max(cur_max, L)
        if cur and (len(cur) + 1) * new_max > budget:
            batches.append(cur)
            cur, new_max = [], L
        cur.append(i)
        cur_max = new_max
    if cur:
        batches.append(cur)
    return [np.asarray(b, dtype=np.int64) for b in batches]


def pad_batch(ids, idx, pad_id):
    """CPU tensors for one batch: input_ids / attention_mask [B, T] (int64, padded with pad_id) and the
    residue mask [B, T] float32 (1 on residues; 0 on <cls>, <eos>, padding) used for mean pooling."""
    T = max(len(ids[i]) for i in idx)
    B = len(idx)
    input_ids = torch.full((B, T), pad_id, dtype=torch.int64)
    attn = torch.zeros((B, T), dtype=torch.int64)
    res = torch.zeros((B, T), dtype=torch.float32)
    for r, i in enumerate(idx.tolist()):
        L = len(ids[i])
        input_ids[r, :L] = torch.as_tensor(ids[i], dtype=torch.int64)
        attn[r, :L] = 1
        res[r, 1:L - 1] = 1.0  # residues only: position 0 is <cls>, L-1 is <eos>
    return input_ids, attn, res


# ------------------------------------------------------------------------------------------------ model


def load_model(model_dir, device, dtype, attn):
    """EsmModel (no pooler: it is not used for mean pooling) in eval mode on the device."""
    kw = dict(dtype=dtype, attn_implementation=attn, add_pooling_layer=False)
    try:  # straight to the GPU when accelerate is installed
        model = EsmModel.from_pretrained(model_dir, device_map=device, **kw)
    except (ValueError, ImportError):  # no accelerate: load on the host, then move
        model = EsmModel.from_pretrained(model_dir, **kw).to(device)
    return model.eval()


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.inference_mode()
def run_batch(model, batch, device, out, idx):
    """Forward + masked mean pooling of one padded batch; writes fp32 rows into out[idx] (host)."""
    input_ids, attn, res = batch
    input_ids = input_ids.to(device, non_blocking=True)
    attn = attn.to(device, non_blocking=True)
    res = res.to(device, non_blocking=True)
    h = model(input_ids=input_ids, attention_mask=attn).last_hidden_state          # [B, T, H], model dtype
    pooled = torch.bmm(res.unsqueeze(1), h.float()).squeeze(1) / res.sum(1, keepdim=True)  # [B, H] fp32
    out[idx] = pooled.float().cpu().numpy()


def bench_budget(model, ids, lengths, budget, args, device, hidden):
    """Runs warm-up + timed passes at one budget; returns (result dict, embeddings [N, hidden] in input order)."""
    batches_idx = make_batches(lengths, budget)
    batches = [pad_batch(ids, b, args.pad_id) for b in batches_idx]
    if device.type == "cuda":  # pinned host memory: faster, asynchronous uploads
        batches = [tuple(t.pin_memory() for t in b) for b in batches]
    real = int(sum(lengths))
    padded = int(sum(b[0].numel() for b in batches))
    out = np.zeros((len(ids), hidden), dtype=np.float32)
    res = {"budget": budget, "batches": len(batches), "max_batch_seqs": int(max(len(b) for b in batches_idx)),
           "padded_tokens": padded, "padded_frac": 1.0 - real / padded}

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)
    try:
        # Warm-up: every batch (default) or the first N (the longest). Untimed but recorded as warmup_s: the
        # first pass meets every batch shape for the first time and is much slower (see the module docstring).
        warm = batches_idx if args.warmup < 0 else batches_idx[:args.warmup]
        sync(device)
        t0 = time.perf_counter()
        for b, idx in zip(batches, warm):
            run_batch(model, b, device, out, idx)
        sync(device)
        res["warmup_batches"] = len(warm)
        res["warmup_s"] = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            sync(device)
            t0 = time.perf_counter()
            for b, idx in zip(batches, batches_idx):
                run_batch(model, b, device, out, idx)
            sync(device)
            times.append(time.perf_counter() - t0)
    except torch.OutOfMemoryError as e:
        res.update(status="oom", error=str(e).splitlines()[0])
        del batches
        if device.type == "cuda":
            torch.cuda.empty_cache()
        return res, None
    sec = min(times)
    res.update(status="ok", seconds=sec, seconds_all=times, tokens_per_s=real / sec,
               sequences_per_s=len(ids) / sec, tflops_per_s=args.total_flops / sec / 1e12)
    if device.type == "cuda":
        res["peak_mem_bytes"] = int(torch.cuda.max_memory_allocated(device))
        res["peak_mem_gib"] = res["peak_mem_bytes"] / 2**30
    return res, out


# ------------------------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description="HuggingFace transformers ESM-2 embedding throughput (mean pooling).")
    ap.add_argument("--model", required=True, help="model directory (config.json, safetensors, vocab.txt)")
    ap.add_argument("--fasta", required=True)
    ap.add_argument("--budgets", default="16384,32768,65536", help="comma-separated padded-token budgets")
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    ap.add_argument("--dtype", default="bf16", choices=list(DTYPES))
    ap.add_argument("--attn", default="sdpa", help="attn_implementation (sdpa, eager, flash_attention_2)")
    ap.add_argument("--max-length", type=int, default=1024, help="tokens per sequence incl. <cls>/<eos>")
    ap.add_argument("--warmup", default="all",
                    help="untimed batches before timing at each budget: 'all' (a full pass, default) or N (the "
                         "first N = the longest batches)")
    ap.add_argument("--repeats", type=int, default=1, help="timed passes per budget; the fastest counts")
    ap.add_argument("--limit", type=int, default=0, help="use only the first N records (0 = all)")
    ap.add_argument("--tokenize", default="vocab", choices=["vocab", "hf"], help="see tokenize()")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--save-npy", help="write the best budget's embeddings (+ .ids.txt) here")
    args = ap.parse_args()

    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("CUDA is not available; use --device cpu for a smoke test")
    budgets = [int(x) for x in args.budgets.split(",") if x.strip()]
    args.warmup = -1 if args.warmup == "all" else int(args.warmup)

    # Input + tokenization (untimed).
    t0 = time.perf_counter()
    recs = read_fasta(args.fasta)
    if args.limit:
        recs = recs[:args.limit]
    if not recs:
        sys.exit(f"{args.fasta}: no records")
    tok = EsmTokenizer.from_pretrained(args.model)
    ids = tokenize(tok, [s for _, s in recs], args.max_length, args.tokenize)
    lengths = [len(x) for x in ids]
    args.pad_id = tok.pad_token_id
    t_tok = time.perf_counter() - t0

    dims = model_dims(args.model)
    args.total_flops = esm2_total_flops(lengths, **dims)

    t0 = time.perf_counter()
    model = load_model(args.model, device, DTYPES[args.dtype], args.attn)
    sync(device)
    t_load = time.perf_counter() - t0
    hidden = model.config.hidden_size

    meta = {
        "model": os.path.abspath(args.model), "fasta": os.path.abspath(args.fasta),
        **dims, "heads": model.config.num_attention_heads,
        "dtype": args.dtype, "attn_implementation": model.config._attn_implementation,
        "sequences": len(ids), "tokens": int(sum(lengths)), "residues": int(sum(lengths)) - 2 * len(ids),
        "max_len": max(lengths), "mean_len": float(np.mean(lengths)), "total_flops": args.total_flops,
        "warmup": "all" if args.warmup < 0 else args.warmup, "repeats": args.repeats,
        "tokenize_s": t_tok, "load_s": t_load,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or "cpu",
        "torch": torch.__version__, "transformers": transformers.__version__,
        "cuda": torch.version.cuda, "python": platform.python_version(),
    }
    print(f"# {meta['device']} | torch {meta['torch']} | transformers {meta['transformers']} | "
          f"{args.dtype} {meta['attn_implementation']} | layers {dims['layers']} hidden {dims['hidden']} | "
          f"{meta['sequences']} seqs, {meta['tokens']} tokens (mean {meta['mean_len']:.1f}) | "
          f"tokenize {t_tok:.1f}s load {t_load:.1f}s", flush=True)

    results, best, best_out = [], None, None
    for budget in budgets:
        r, out = bench_budget(model, ids, lengths, budget, args, device, hidden)
        results.append(r)
        if r["status"] != "ok":
            print(f"budget {budget:6d}: {r['status']} ({r.get('error', '')})", flush=True)
            continue
        mem = f" peak {r['peak_mem_gib']:.2f} GiB" if "peak_mem_gib" in r else ""
        print(f"budget {budget:6d}: {r['seconds']:8.3f} s  {r['tokens_per_s']:12.0f} tok/s  "
              f"{r['sequences_per_s']:9.1f} seq/s  {r['tflops_per_s']:7.2f} TFLOP/s  "
              f"padded {100 * r['padded_frac']:5.1f}%  {r['batches']} batches (<= {r['max_batch_seqs']} seqs)"
              f"{mem}  [warm-up {r['warmup_batches']} batches {r['warmup_s']:.3f} s]", flush=True)
        if best is None or r["tokens_per_s"] > best["tokens_per_s"]:
            best, best_out = r, out
    if best is None:
        sys.exit("no budget completed")
    print(f"best: budget {best['budget']}: {best['tokens_per_s']:.0f} tok/s, {best['sequences_per_s']:.1f} seq/s, "
          f"{best['tflops_per_s']:.2f} TFLOP/s", flush=True)

    if args.json:
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "budgets": results, "best": best}, f, indent=2)
            f.write("\n")
    if args.save_npy:
        np.save(args.save_npy, best_out)
        stem = args.save_npy[:-4] if args.save_npy.endswith(".npy") else args.save_npy
        with open(stem + ".ids.txt", "w") as f:
            f.write("".join(rid + "\n" for rid, _ in recs))


if __name__ == "__main__":
    main()
