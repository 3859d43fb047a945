"""Training without Ray: in this process, or one process per rank started here (torch.multiprocessing).

Used by the 2-rank CPU tests (gloo), bench/gpu_train.py (every GPU, NCCL) and `train_tokens`, the entry
point for small in-process trainings ("preset P on shards S for T tokens with seed K, give me the metrics"),
e.g. data ablations. Checkpoints land in OUT_DIR/<run>/checkpoint_<step>/ (beside Ray's own run folders;
on an object store uploaded with meta.json last); metrics in OUT_DIR/metrics.jsonl, as under Ray.
"""

from __future__ import annotations

import json
import shutil
import socket
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pipeline import layout, storage
from trainer import checkpoint
from trainer.train_loop import Trainer


def latest_checkpoint(out_dir: storage.Where, run_name: str, fetch_into: Path | None = None):
    """The run's newest checkpoint that verifies (complete, every file as written); with `fetch_into`, one on
    an object store is downloaded there first."""
    return checkpoint.newest_intact(layout.run_dir(out_dir, run_name), fetch_into)[0]


def local_report(out_dir: str | Path, run_name: str):
    """A `report` for Trainer: checkpoints are moved to OUT_DIR/<run>/checkpoint_<step>/ (each rank adds its
    files; rank 0 moves meta.json last, so a directory with meta.json is complete)."""

    def report(metrics: dict, checkpoint_dir: Path | None) -> None:
        if checkpoint_dir is None:
            return
        target = layout.step_checkpoint_dir(out_dir, run_name, metrics["step"])
        if storage.is_remote(target):  # no rename across stores: an upload, meta.json last
            rank = dist.get_rank() if dist.is_initialized() else 0
            checkpoint.publish(checkpoint_dir, target, rank=rank, barrier=_barrier)
            return
        files = [p for p in sorted(checkpoint_dir.rglob("*")) if p.is_file() and p.name != "meta.json"]
        for path in files:  # a rename on one file system: the checkpoint is not copied
            dest = target / path.relative_to(checkpoint_dir)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, dest)
        _barrier()
        if (checkpoint_dir / "meta.json").exists():
            shutil.move(checkpoint_dir / "meta.json", target / "meta.json")

    return report


def _barrier() -> None:
    if dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def run_rank(config: dict, device: torch.device | None = None) -> dict:
    """Train (or resume: the run's latest local checkpoint, else `branch_from`) on this rank; last metrics."""
    if device is None:
        rank = dist.get_rank() if dist.is_initialized() else 0
        device = torch.device(
            f"cuda:{rank % torch.cuda.device_count()}" if torch.cuda.is_available() else "cpu"
        )
    with checkpoint.download_area(config["cache_dir"]) as scratch:
        resume = latest_checkpoint(config["out_dir"], config["run_name"], scratch)
        report = local_report(config["out_dir"], config["run_name"])
        trainer = Trainer(config, device, report, resume=resume or config.get("branch_from"))
    return trainer.run()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank_main(rank: int, world: int, port: int, configs: list, backend: str, results: str, timeout_s: float):
    if backend == "nccl":
        torch.cuda.set_device(rank)
    timeout = timedelta(seconds=timeout_s)
    dist.init_process_group(
        backend, init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world, timeout=timeout
    )
    outcomes = []
    for config in configs:
        try:
            outcomes.append({"metrics": run_rank(config)})
        except Exception as e:  # noqa: BLE001 - the parent reports every rank's failure
            outcomes.append({"error": f"{type(e).__name__}: {e}"})
    (Path(results) / f"rank{rank}.json").write_text(json.dumps(outcomes))
    dist.destroy_process_group()


def run_ranks(
    configs: list[dict], world: int, *, timeout_s: float, backend: str | None = None
) -> list[list[dict]]:
    """Run `world` ranks through the trainings `configs`, one after the other, in one set of processes (a
    process start with its torch import is the slow part); per config, each rank's {"metrics": ...} or
    {"error": "..."}. Raises TimeoutError (after killing the ranks) when they do not finish in `timeout_s`."""
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    with tempfile.TemporaryDirectory(prefix="ranks-") as results:
        args = (world, free_port(), configs, backend, results, timeout_s)
        ctx = mp.start_processes(_rank_main, args=args, nprocs=world, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        while not ctx.join(timeout=1.0):
            if time.monotonic() > deadline:
                for process in ctx.processes:
                    if process.is_alive():
                        process.kill()
                names = [c["run_name"] for c in configs]
                raise TimeoutError(f"{world} ranks of {names} did not finish in {timeout_s:.0f} s (a hang?)")
        by_rank = [json.loads((Path(results) / f"rank{r}.json").read_text()) for r in range(world)]
        return [list(per_config) for per_config in zip(*by_rank)]


def train_tokens(
    shards_dir: str | Path,
    out_dir: str | Path,
    *,
    preset: str,
    tokens: int,
    seed: int,
    run_name: str,
    **overrides,
) -> dict:
    """Train `preset` on `shards_dir` for exactly `tokens` tokens with `seed`, in this process (one rank);
    returns the final metrics (train loss, per-domain validation loss, tokens/s, ...). `overrides` are
    `train:` config keys (micro_batch, grad_accum, lr, seq_len, ...)."""
    from pipeline.settings import TrainSettings
    from trainer.model import PRESETS
    from trainer.train import loop_config

    train = TrainSettings.from_section(None)  # configs/default.yaml's train: section
    micro_batch = overrides.get("micro_batch") or train.micro_batch
    grad_accum = overrides.get("grad_accum") or train.grad_accum
    seq_len = overrides.get("seq_len") or train.seq_len or PRESETS[preset]["seq_len"]
    per_step = micro_batch * grad_accum * seq_len
    if tokens % per_step:
        raise ValueError(f"{tokens} tokens is not a whole number of steps of {per_step} tokens")
    overrides = {**overrides, "preset": preset, "seed": seed, "steps": tokens // per_step}
    config = loop_config(train, Path(out_dir), run_name, **overrides)
    config.update(shards_dir=str(Path(shards_dir).resolve()), out_dir=str(Path(out_dir).resolve()))
    return run_rank(config)
