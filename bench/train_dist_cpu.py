"""CPU figures of the multi-rank trainer (2 gloo ranks, tiny preset): what each rank writes per checkpoint
(FSDP2 sharded vs DDP vs one full model + Adam state), and how far a 2-rank FSDP2 run resumed on 1 rank
drifts from the uninterrupted run. -> bench/results/train_dist_cpu.json

    .venv/bin/python -m bench.train_dist_cpu [--out /tmp/bench_train_dist]
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from bench.results_table import write_result
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
    print(json.dumps(result, indent=2))
    print(write_result("train_dist_cpu", [table(result)], result))


def table(result: dict) -> dict:
    """The BENCHMARKS.md table of one run's figures."""

    def mb(n: float) -> str:
        return f"{n / 1e6:.2f} MB"

    def small(x: float) -> str:
        return f"{x:.1e}".replace("e-0", "e-")

    return {
        "title": f"2 gloo ranks, tiny preset ({result['params']:,} parameters), 8 steps",
        "command": "python -m bench.train_dist_cpu",
        "columns": ["figure", "value"],
        "rows": [
            ["one full copy of fp32 weights + Adam m, v", mb(result["full_model_plus_adam_bytes"])],
            [
                "FSDP2 checkpoint, bytes written per rank (DCP)",
                ", ".join(map(mb, result["fsdp_checkpoint_bytes_per_rank"])),
            ],
            [
                "DDP checkpoint, bytes written per rank (DCP spreads the replicated tensors)",
                ", ".join(map(mb, result["ddp_checkpoint_bytes_per_rank"])),
            ],
            [
                "2-rank FSDP2 run resumed on 1 rank: max abs. train-loss difference vs uninterrupted (steps 6, 8)",
                small(result["resume_2_to_1_rank_max_abs_train_loss_diff"]),
            ],
            ["same, final validation loss", small(result["resume_2_to_1_rank_abs_val_loss_diff"])],
        ],
        "notes": f"Two rank processes: {result['two_rank_processes_wall_s']:.0f} s wall.",
    }


if __name__ == "__main__":
    main()
