"""Training time blocked by checkpoints, synchronous vs asynchronous (`ckpt_async`), on CPU.

The same run twice per mode, interleaved (sync, async, sync, async), one rank in this process, one torch
thread (the background writer gets the other core): the `124m` preset at seq_len 64, a checkpoint every 2
steps. The figure is the loop's own `ckpt_blocked_s` on its last metric line: the time the training thread
spent in checkpoints before the final one (saving and reporting them, i.e. moving them into
OUT/train/<run>/checkpoint_<step>; asynchronously: copying the state to CPU memory, plus waiting for a write
still running when the next one is due). The final checkpoint, which every run waits for, is in the wall time.
-> bench/results/ckpt_async.json

    .venv/bin/python -m bench.ckpt_async [--preset 124m] [--steps 8] [--out /tmp/bench_ckpt_async]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import torch

from bench.results_table import write_result
from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.local import local_report
from trainer.train import loop_config
from trainer.train_loop import Trainer

CKPT_EVERY = 2


def run(out: Path, name: str, preset: str, steps: int, asynchronous: bool) -> dict:
    cfg = loop_config(
        load_config()["train"], out, name, preset=preset, seq_len=64, steps=steps, micro_batch=1, grad_accum=1,
        warmup_steps=0, decay_fraction=0.0, log_every=1, eval_every=10**6, eval_windows=1,
        ckpt_every=CKPT_EVERY, threads=1, ckpt_async=asynchronous,
    )  # fmt: skip
    trainer = Trainer(cfg, torch.device("cpu"), local_report(cfg["out_dir"], name))
    began = time.perf_counter()
    last = trainer.run()
    wall = time.perf_counter() - began
    ckpt = out / "train" / name / f"checkpoint_{steps:06d}"
    return {
        "blocked_s": last["ckpt_blocked_s"],
        "wall_s": wall,
        "train_loss": last["train_loss"],
        "checkpoint_bytes": sum(p.stat().st_size for p in ckpt.rglob("*") if p.is_file()),
        "params": trainer.n_params,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--preset", default="124m")
    p.add_argument("--steps", type=int, default=8)
    p.add_argument("--out", default="/tmp/bench_ckpt_async")
    a = p.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    write_demo_shards(out, vocab_size=8000, docs_per_domain=100)
    runs = {"sync": [], "async": []}
    for rep in range(2):
        for mode in ("sync", "async"):
            runs[mode].append(run(out, f"{mode}{rep}", a.preset, a.steps, mode == "async"))
            print(mode, runs[mode][-1], flush=True)
    losses = {r["train_loss"] for rs in runs.values() for r in rs}
    assert len(losses) == 1, f"the modes trained differently: {losses}"
    result = {
        "preset": a.preset,
        "params": runs["sync"][0]["params"],
        "checkpoint_bytes": runs["sync"][0]["checkpoint_bytes"],
        "steps": a.steps,
        "checkpoints_timed": a.steps // CKPT_EVERY - 1,
        "blocked_s": {mode: [round(r["blocked_s"], 3) for r in rs] for mode, rs in runs.items()},
        "wall_s": {mode: [round(r["wall_s"], 2) for r in rs] for mode, rs in runs.items()},
    }
    print(json.dumps(result, indent=2))
    print(write_result("ckpt_async", [table(result)], result))


def table(result: dict) -> dict:
    """The BENCHMARKS.md table: time blocked and wall time per run, and the async/sync ratio of medians."""

    def runs(values: list[float]) -> str:
        return ", ".join(f"{v:.1f}" for v in values)

    def ratio(key: str) -> float:
        return statistics.median(result[key]["async"]) / statistics.median(result[key]["sync"])

    n, steps = result["checkpoints_timed"], result["steps"]
    return {
        "title": f"Checkpoints sync vs async: {result['preset']} ({result['params'] / 1e6:.0f} M parameters, "
        f"{result['checkpoint_bytes'] / 1e9:.2f} GB per checkpoint), one rank on CPU",
        "command": f"python -m bench.ckpt_async --preset {result['preset']} --steps {steps}",
        "columns": [
            "mode",
            f"blocked s, {n} checkpoints (run 1, run 2)",
            f"wall s, {steps} steps (run 1, run 2)",
        ],
        "rows": [
            [
                "sync (`train.ckpt_async: false`)",
                runs(result["blocked_s"]["sync"]),
                runs(result["wall_s"]["sync"]),
            ],
            ["async (default)", runs(result["blocked_s"]["async"]), runs(result["wall_s"]["async"])],
            ["async / sync (medians)", f"**{ratio('blocked_s'):.2f}**", f"{ratio('wall_s'):.2f}"],
        ],
    }


if __name__ == "__main__":
    main()
