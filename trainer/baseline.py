"""A plain single-process PyTorch training loop on the same model and data, without Ray.

The reference side of the Ray-overhead benchmark (bench/train_throughput.py): same GPT preset, same shard
stream, same AdamW and lr, no distributed wrapper, no metrics, no checkpoints. Tokens/s is the median over
the steps after the first (which pays for lazy initialisation, and compilation on CUDA), the statistic the
benchmark also takes from the Ray run's per-step metrics.

    python -m trainer.baseline --out runs/demo --preset tiny --steps 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch

from trainer.data import MixtureDataset, ShardLoader, load_manifest
from trainer.model import GPT, optimizer_param_groups, preset_config


def train_baseline(
    shards_dir: str,
    *,
    preset: str = "tiny",
    steps: int = 30,
    micro_batch: int = 8,
    seq_len: int | None = None,
    lr: float = 6e-4,
    threads: int | None = None,
    seed: int = 1234,
) -> dict:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if threads:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    vocab = load_manifest(shards_dir)["tokenizer"]["vocab_size"]
    cfg = preset_config(preset, vocab, seq_len=seq_len)
    model = GPT(cfg).to(device)
    optimizer = torch.optim.AdamW(optimizer_param_groups(model, 0.1), lr=lr, betas=(0.9, 0.95))
    if device.type == "cuda":
        model = torch.compile(model)
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    batches = iter(
        ShardLoader(MixtureDataset(shards_dir, seq_len=cfg.seq_len, batch_size=micro_batch, seed=seed))
    )
    losses, seconds = [], []
    for _ in range(steps):
        start = time.perf_counter()
        batch = next(batches).to(device)
        with autocast:
            _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())  # also waits for the GPU
        seconds.append(time.perf_counter() - start)
    tokens_per_s = micro_batch * cfg.seq_len / statistics.median(seconds[1:]) if steps > 1 else float("nan")
    return {"preset": preset, "steps": steps, "tokens_per_s": tokens_per_s, "losses": losses}


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m trainer.baseline")
    p.add_argument("--out", required=True)
    p.add_argument("--preset", default="tiny")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--micro-batch", type=int, default=8)
    p.add_argument("--seq-len", type=int)
    p.add_argument("--threads", type=int)
    a = p.parse_args()
    result = train_baseline(
        f"{a.out}/shards",
        preset=a.preset,
        steps=a.steps,
        micro_batch=a.micro_batch,
        seq_len=a.seq_len,
        threads=a.threads,
    )
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}))


if __name__ == "__main__":
    main()
