"""CPU tokens/s of the tiny and 124m presets: Ray Train (1 worker) vs a plain single-process loop.

Both sides train the same model on the same demo shards with the same threads, each in its own process
(the baseline as `python -m trainer.baseline`, Ray's in its worker); the Ray side's steady-state tokens/s
comes from its metrics.jsonl (first step excluded, as in the baseline). Runs are interleaved (baseline, Ray,
baseline) so machine load hits both. Also reported: Ray's wall time for the whole fit,
which adds the cluster and worker-group start.

    .venv/bin/python -m bench.train_throughput [--threads 1] [--out /tmp/bench_train]

Writes bench/results/train_throughput.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

from bench.results_table import write_result
from pipeline.config import load_config
from pipeline.settings import TrainSettings
from trainer.cluster import connect
from trainer.demo_shards import write_demo_shards
from trainer.model import GPT, PRESETS, preset_config
from trainer.train import fit, loop_config, read_metrics

TITLE = "Ray Train vs a plain PyTorch loop, one CPU worker (threads: see the command)"
CASES = {  # preset: (steps, micro_batch, seq_len)
    "tiny": (60, 8, 64),
    "124m": (4, 1, 256),
}


def baseline_side(out: Path, preset: str, steps: int, micro_batch: int, seq_len: int, threads: int) -> dict:
    cmd = [
        sys.executable,
        "-m",
        "trainer.baseline",
        "--out",
        str(out),
        "--preset",
        preset,
        "--steps",
        str(steps),
    ]
    cmd += ["--micro-batch", str(micro_batch), "--seq-len", str(seq_len), "--threads", str(threads)]
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()[-1])


def ray_side(out: Path, preset: str, steps: int, micro_batch: int, seq_len: int, threads: int) -> dict:
    name = f"bench-{preset}-{time.monotonic_ns()}"
    train = TrainSettings.from_config(load_config())
    config = loop_config(
        train, out, name, preset=preset, steps=steps, micro_batch=micro_batch, seq_len=seq_len,
        warmup_steps=0, decay_fraction=0.0, log_every=1, eval_every=10**6, ckpt_every=10**6, threads=threads,
        eval_windows=1,
    )  # fmt: skip
    start = time.perf_counter()
    fit(config, dataclasses.replace(train, max_failures=0))  # a failure fails the bench, never a retry
    wall = time.perf_counter() - start
    rows = read_metrics(out, name)[1:-1]  # drop the first step and the last (it evaluates + checkpoints)
    return {"tokens_per_s": statistics.median(r["tokens_per_s"] for r in rows), "wall_s": wall}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="/tmp/bench_train")
    a = p.parse_args()
    out = Path(a.out)
    shutil.rmtree(out, ignore_errors=True)
    write_demo_shards(out, vocab_size=8000, docs_per_domain=300)
    connect(num_cpus=2)
    results = {}
    for preset, (steps, mb, seq) in CASES.items():
        base1 = baseline_side(out, preset, steps, mb, seq, a.threads)
        ray = ray_side(out, preset, steps, mb, seq, a.threads)
        base2 = baseline_side(out, preset, steps, mb, seq, a.threads)
        base = (base1["tokens_per_s"] + base2["tokens_per_s"]) / 2
        results[preset] = {
            "baseline_tokens_per_s": [round(base1["tokens_per_s"]), round(base2["tokens_per_s"])],
            "ray_tokens_per_s": round(ray["tokens_per_s"]),
            "ray_over_baseline": round(ray["tokens_per_s"] / base, 3),
            "ray_fit_wall_s": round(ray["wall_s"], 1),
            "steps": steps,
            "tokens_per_step": mb * seq,
        }
        print(preset, json.dumps(results[preset]), flush=True)
    command = "python -m bench.train_throughput " + " ".join(sys.argv[1:])
    print(write_result("train_throughput", tables(results, command), results))


def param_count(preset: str, seq_len: int) -> int:
    """The model's parameters for the demo shards' 8000-id vocabulary (built on the meta device: no memory)."""
    with torch.device("meta"):
        return GPT(preset_config(preset, 8000, seq_len=seq_len)).num_params()


def tables(results: dict, command: str) -> list[dict]:
    rows = []
    for preset, r in results.items():
        micro_batch, seq_len = CASES[preset][1:]
        params = param_count(preset, seq_len) / 1e6
        b = r["baseline_tokens_per_s"]
        rows.append(
            [
                preset if seq_len == PRESETS[preset]["seq_len"] else f"{preset} (seq {seq_len})",
                f"{params:.1f} M" if params < 10 else f"{params:.0f} M",
                f"{micro_batch} x {seq_len}",
                f"{b[0]:,}, {b[1]:,}",
                f"{r['ray_tokens_per_s']:,}",
                f"{r['ray_over_baseline']:.2g}",
                f"{r['ray_fit_wall_s']} ({r['steps']} steps)",
            ]
        )
    columns = ["preset", "params", "tokens/step", "baseline tok/s (before, after)", "Ray tok/s"]
    columns += ["Ray / baseline", "Ray fit wall s"]
    return [{"title": TITLE, "command": command, "columns": columns, "rows": rows}]


if __name__ == "__main__":
    main()
