#!/usr/bin/env python3
"""Writes a random-weight ESM-2 model directory with the exact shape of a released checkpoint, for benchmarks.

The directory looks like a hub download (EsmForMaskedLM.save_pretrained: config.json + model.safetensors,
plus the EsmTokenizer files vocab.txt / tokenizer_config.json with the standard 33 tokens), stored in bf16 so
the files are half the size of the fp32 hub checkpoints. Speed does not depend on the values, so the weights are
random: every parameter ~ N(0, 0.02) (LayerNorm weights 1 + N(0, 0.02)), never zeros.

Shapes (the config.json values of facebook/esm2_<name>_UR50D):

    name   hub model          layers  hidden  heads  intermediate  parameters (with lm_head)  bf16 files
    8M     esm2_t6_8M         6       320     20     1280          7.5M                      15 MB
    35M    esm2_t12_35M       12      480     20     1920          33.5M                     67 MB
    150M   esm2_t30_150M      30      640     20     2560          148M                      0.30 GB
    650M   esm2_t33_650M      33      1280    20     5120          651M                      1.3 GB
    3B     esm2_t36_3B        36      2560    40     10240         2.84B                     5.7 GB
    15B    esm2_t48_15B       48      5120    40     20480         15.1B                     30 GB

All share: vocab 33, token_dropout true, mask_token_id 32, pad_token_id 1, rotary positions (theta 10000),
layer_norm_eps 1e-5, max_position_embeddings 1026, emb_layer_norm_before false, GELU, dropout 0.

The model is built directly on the GPU when there is one (--device auto), in bf16, so even 15B takes seconds to
initialise; save_pretrained then copies it to the host shard by shard (30 GB of host memory and disk for 15B).

Usage:
    python3 bench/make_esm2_shape.py --shape 650M --out /tmp/esm2_650M [--device auto|cuda|cpu] [--seed 0]
"""

import argparse
import os
import sys
import time

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402
from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer  # noqa: E402

# name -> (hub name, layers, hidden, heads, intermediate)
SHAPES = {
    "8M": ("facebook/esm2_t6_8M_UR50D", 6, 320, 20, 1280),
    "35M": ("facebook/esm2_t12_35M_UR50D", 12, 480, 20, 1920),
    "150M": ("facebook/esm2_t30_150M_UR50D", 30, 640, 20, 2560),
    "650M": ("facebook/esm2_t33_650M_UR50D", 33, 1280, 20, 5120),
    "3B": ("facebook/esm2_t36_3B_UR50D", 36, 2560, 40, 10240),
    "15B": ("facebook/esm2_t48_15B_UR50D", 48, 5120, 40, 20480),
}

# The ESM-2 alphabet in id order (fair-esm / the hub's vocab.txt): <cls>=0, <pad>=1, <eos>=2, <unk>=3, ..., <mask>=32.
VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>"] + list("LAGVSERTIDPKQNFYMHWCXBUZO.-") + ["<null_1>", "<mask>"]
assert len(VOCAB) == 33 and VOCAB.index("<mask>") == 32 and VOCAB.index("<pad>") == 1


def make_config(shape):
    """EsmConfig with the hub's values for this shape."""
    _, layers, hidden, heads, intermediate = SHAPES[shape]
    return EsmConfig(
        vocab_size=33,
        mask_token_id=32,
        pad_token_id=1,
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=intermediate,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        max_position_embeddings=1026,
        initializer_range=0.02,
        layer_norm_eps=1e-5,
        position_embedding_type="rotary",
        emb_layer_norm_before=False,
        token_dropout=True,
        is_folding_model=False,
        vocab_list=None,
    )


@torch.no_grad()
def randomize_(model, seed):
    """Every parameter ~ N(0, 0.02); LayerNorm weights 1 + N(0, 0.02). Tied tensors are drawn once."""
    torch.manual_seed(seed)
    seen = set()
    for mod in model.modules():
        for name, p in mod.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            torch.nn.init.normal_(p, mean=0.0, std=0.02)
            if isinstance(mod, torch.nn.LayerNorm) and name == "weight":
                p.add_(1.0)


def save_tokenizer(out_dir):
    """vocab.txt + the tokenizer config files EsmTokenizer.save_pretrained writes (as on the hub)."""
    vocab_path = os.path.join(out_dir, "vocab.txt")
    with open(vocab_path, "w", newline="\n") as f:
        f.write("\n".join(VOCAB) + "\n")
    EsmTokenizer(vocab_path).save_pretrained(out_dir)


def main():
    ap = argparse.ArgumentParser(description="Writes a random-weight ESM-2 model directory of a released shape.")
    ap.add_argument("--shape", required=True, choices=list(SHAPES))
    ap.add_argument("--out", required=True, help="output directory (must not exist or be empty)")
    ap.add_argument("--device", default="auto", help="auto (cuda if available), cuda, cpu")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-shard-size", default="50GB", help="passed to save_pretrained (transformers 5 default)")
    args = ap.parse_args()

    if os.path.exists(args.out) and (not os.path.isdir(args.out) or os.listdir(args.out)):
        sys.exit(f"{args.out} exists and is not an empty directory; remove it first")
    device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device

    t0 = time.perf_counter()
    cfg = make_config(args.shape)
    # Build directly on the target device and in bf16 (no fp32 copy on the host).
    with torch.device(device):
        model = EsmForMaskedLM._from_config(cfg, dtype=torch.bfloat16)
    randomize_(model, args.seed)
    model.eval()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    t1 = time.perf_counter()

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, max_shard_size=args.max_shard_size)
    save_tokenizer(args.out)
    for fn in os.listdir(args.out):  # safetensors writes 0600; make the directory readable like a download
        os.chmod(os.path.join(args.out, fn), 0o644)
    t2 = time.perf_counter()

    n_params = sum(p.numel() for p in model.parameters())  # tied embedding counted once
    size = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"{args.out}: {args.shape} ({SHAPES[args.shape][0]} shape) layers={cfg.num_hidden_layers} "
          f"hidden={cfg.hidden_size} heads={cfg.num_attention_heads} intermediate={cfg.intermediate_size} "
          f"params={n_params / 1e6:.1f}M files={sorted(os.listdir(args.out))} size={size / 1e9:.2f} GB "
          f"build={t1 - t0:.1f}s on {device} save={t2 - t1:.1f}s")


if __name__ == "__main__":
    main()
