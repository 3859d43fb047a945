"""A plain single-process PyTorch training loop on the same model and data, without Ray.

The reference side of the Ray-overhead benchmark (bench/train_throughput.py): same GPT preset, same shard
stream, same AdamW and peak lr (the `train:` settings, flags below override theirs), no schedule, no
distributed wrapper, no metrics, no checkpoints. Tokens/s is the median over the steps after the first
(which pays for lazy initialisation, and compilation on CUDA), the statistic the benchmark also takes from
the Ray run's per-step metrics.

    python -m trainer.baseline --out runs/demo --preset tiny --steps 30
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import time

import torch

from pipeline import layout
from pipeline.config import load_config
from pipeline.settings import TrainSettings
from trainer.data import MixtureDataset, ShardLoader, load_manifest
from trainer.model import GPT, optimizer_param_groups, preset_config


def train_baseline(shards_dir: str, train: TrainSettings) -> dict:
    """`train.steps` steps of `train.preset` at the constant peak lr, one process, one micro-batch a step."""
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if train.threads:
        torch.set_num_threads(train.threads)
    torch.manual_seed(train.seed)
    vocab = load_manifest(shards_dir)["tokenizer"]["vocab_size"]
    cfg = preset_config(train.preset, vocab, seq_len=train.seq_len)
    model = GPT(cfg).to(device)
    optimizer = torch.optim.AdamW(
        optimizer_param_groups(model, train.weight_decay), lr=train.lr, betas=(train.beta1, train.beta2)
    )
    if device.type == "cuda" and train.compile:
        model = torch.compile(model)
    autocast = torch.autocast("cuda", torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()
    dataset = MixtureDataset(shards_dir, seq_len=cfg.seq_len, batch_size=train.micro_batch, seed=train.seed)
    batches = iter(ShardLoader(dataset))
    losses, seconds = [], []
    for _ in range(train.steps):
        start = time.perf_counter()
        batch = next(batches).to(device)
        with autocast:
            _, loss = model(batch[:, :-1], batch[:, 1:])
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), train.grad_clip or float("inf"))  # 0: no clip
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(loss.item())  # also waits for the GPU
        seconds.append(time.perf_counter() - start)
    steps = train.steps
    tokens_per_s = (
        train.micro_batch * cfg.seq_len / statistics.median(seconds[1:]) if steps > 1 else float("nan")
    )
    return {"preset": train.preset, "steps": steps, "tokens_per_s": tokens_per_s, "losses": losses}


# flag -> the `train:` key it sets (the rest come from configs/default.yaml)
FLAGS = {"--preset": "preset", "--steps": "steps", "--micro-batch": "micro_batch", "--seq-len": "seq_len",
         "--threads": "threads"}  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m trainer.baseline")
    p.add_argument("--out", required=True)
    for flag, key in FLAGS.items():
        p.add_argument(flag, dest=key, type=str if key == "preset" else int, help=f"train.{key}")
    a = p.parse_args()
    overrides = {f"train.{key}": getattr(a, key) for key in FLAGS.values() if getattr(a, key) is not None}
    train = TrainSettings.from_config(load_config(overrides=overrides))
    result = train_baseline(str(layout.shards_dir(a.out)), train)
    print(json.dumps({k: v for k, v in result.items() if k != "losses"}))


if __name__ == "__main__":
    main()
