"""CPU figures of the multi-rank trainer (2 gloo ranks, tiny preset): what each rank writes per checkpoint
(FSDP2 sharded vs DDP vs one full model + Adam state), and how far a 2-rank FSDP2 run resumed on 1 rank
drifts from the uninterrupted run. -> bench/results/train_dist_cpu.json

    .venv/bin/python bench/train_dist_cpu.py [--out /tmp/bench_train_dist]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.local import local_report, run_ranks
from trainer.train import loop_config, read_metrics
from trainer.train_loop import Trainer

STEPS = 8


def config(out: Path, name: str, **extra) -> dict:
    settings = dict(steps=STEPS, warmup_steps=2, decay_fraction=0.25, lr=3e-3, micro_batch=4, grad_accum=1)
    settings.update(eval_windows=8, log_every=2, eval_every=4, ckpt_every=4, threads=1)
    return loop_config(load_config()["train"], out, name, **{**settings, **extra})


def rank_bytes(checkpoint_dir: Path) -> list[int]:
    return [p.stat().st_size for p in sorted(checkpoint_dir.glob("__*_0.distcp"))]


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--out", default="/tmp/bench_train_dist")
    out = Path(p.parse_args().out)
    shutil.rmtree(out, ignore_errors=True)
    write_demo_shards(out, docs_per_domain=60)
    start = time.perf_counter()
    fsdp, ddp = run_ranks([config(out, "fsdp", fsdp="on"), config(out, "ddp", fsdp="off")], 2, timeout_s=900)
    ranks_wall_s = time.perf_counter() - start
    assert all("metrics" in r for r in fsdp + ddp), (fsdp, ddp)
    resumed_cfg = config(out, "fsdp-on-1", grad_accum=2)
    ckpt = out / "train" / "fsdp" / "checkpoint_000004"
    trainer = Trainer(
        resumed_cfg, torch.device("cpu"), local_report(resumed_cfg["out_dir"], "fsdp-on-1"), ckpt
    )
    full_state_bytes = 3 * 4 * trainer.n_params  # fp32 weights + Adam m and v
    trainer.run()
    full = {m["step"]: m for m in read_metrics(out, "fsdp")}
    resumed = {m["step"]: m for m in read_metrics(out, "fsdp-on-1")}
    result = {
        "benchmark": "train_dist_cpu",
        "command": "python bench/train_dist_cpu.py",
        "ranks": 2,
        "preset": "tiny",
        "params": trainer.n_params,
        "full_model_plus_adam_bytes": full_state_bytes,
        "fsdp_checkpoint_bytes_per_rank": rank_bytes(out / "train" / "fsdp" / "checkpoint_000008"),
        "ddp_checkpoint_bytes_per_rank": rank_bytes(out / "train" / "ddp" / "checkpoint_000008"),
        "resume_2_to_1_rank_max_abs_train_loss_diff": max(
            abs(resumed[s]["train_loss"] - full[s]["train_loss"]) for s in resumed
        ),
        "resume_2_to_1_rank_abs_val_loss_diff": abs(resumed[STEPS]["val_loss"] - full[STEPS]["val_loss"]),
        "two_rank_processes_wall_s": ranks_wall_s,
    }
    path = Path(__file__).parent / "results" / "train_dist_cpu.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
