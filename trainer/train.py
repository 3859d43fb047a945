"""Ray Train entry point: `TorchTrainer` over `trainer.train_loop.train_loop_per_worker`.

Storage is OUT/train, a local folder or an object store (`--out s3://...`: Ray reads and writes it through the
store's pyarrow file system); each run lives in OUT/train/<name>/ (Ray's checkpoints and its run state). Rerunning a
run with the same OUT and name resumes it from its latest checkpoint: Ray Train 2.x restores the run's
checkpoint manager from storage and hands the checkpoint to the workers via `ray.train.get_checkpoint()`
(the older `TorchTrainer.restore` is deprecated in Ray Train v2). Worker failures are retried
`max_failures` times, each retry also starting from the latest checkpoint.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pipeline import layout, storage
from pipeline.config import ConfigError, check_key
from pipeline.settings import TrainSettings
from trainer import checkpoint
from trainer.cluster import connect
from trainer.model import PRESETS
from trainer.schedule import WSDSchedule

# Ray reads these when it starts; the health-check interval bounds how long `report` blocks (default 2 s).
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")
os.environ.setdefault("RAY_TRAIN_ENABLE_PRINT_PATCH", "0")  # else each progress line is printed twice

# Keys of the `train:` config section that only the driver reads (how to run, not what to train);
# every other field of TrainSettings (configs/default.yaml is its one list) reaches each worker.
DRIVER_KEYS = ("run_name", "workers", "gpu", "keep_checkpoints", "max_failures")
LOOP_KEYS = tuple(f.name for f in dataclasses.fields(TrainSettings) if f.name not in DRIVER_KEYS)
FSDP_MODES = ("auto", "on", "off")  # train.fsdp


def loop_config(
    train: TrainSettings | Mapping[str, Any], out: str | Path, run_name: str, **overrides: Any
) -> dict:
    """The dict each worker receives: the `train:` settings, the paths, and per-call overrides. An override
    of a `train:` key is checked as a config file's value is (type, the range declared on its field)."""
    settings = train if isinstance(train, TrainSettings) else TrainSettings.from_section(train)
    out = storage.path(out).resolve()  # a local OUT absolute, an object-store URI as it is
    run_name = layout.path_component(
        run_name, "--run-name"
    )  # a folder under OUT/train, never a path out of it
    config = {key: getattr(settings, key) for key in LOOP_KEYS}
    config.update(
        shards_dir=str(layout.shards_dir(out)),
        out_dir=str(layout.train_dir(out)),
        run_name=run_name,
        weights=None,
        stop_after=None,
        branch_from=None,
        init_from=None,
    )
    for key, value in overrides.items():
        if value is not None and key in LOOP_KEYS:
            check_key(f"train.{key}", value)
    config.update({k: v for k, v in overrides.items() if v is not None})
    if config["preset"] not in PRESETS:
        raise ConfigError(f"train.preset: {config['preset']!r} is none of {', '.join(PRESETS)}")
    if config["fsdp"] not in FSDP_MODES:
        raise ConfigError(f"train.fsdp: {config['fsdp']!r} is none of {', '.join(FSDP_MODES)}")
    branch_of = config.pop("branch_from_pre_decay", None)  # the name of the run whose pre-decay state to take
    if config["branch_from"] is None and branch_of is not None:
        branch_of = layout.path_component(branch_of, "--branch-from-pre-decay")
        config["branch_from"] = str(layout.pre_decay_dir(layout.train_dir(out), branch_of))
    if config["branch_from"] and config["init_from"]:
        raise ValueError("--branch-from-pre-decay continues a run, --init-from starts a new one: pick one")
    # short runs (`make train STEPS=10`): the warmup ends at the latest where the decay starts
    decay_start = WSDSchedule(config["steps"], config["lr"], 0, config["decay_fraction"]).decay_start
    config["warmup_steps"] = min(config["warmup_steps"], decay_start)
    WSDSchedule(
        config["steps"], config["lr"], config["warmup_steps"], config["decay_fraction"]
    )  # fail here, not in workers
    if config["branch_from"] and not (storage.path(config["branch_from"]) / "meta.json").exists():
        raise FileNotFoundError(
            f"{config['branch_from']}: no pre-decay checkpoint (train through the decay start first)"
        )
    if config["init_from"]:
        config["init_from"] = str(storage.path(config["init_from"]).resolve())
        if not (storage.path(config["init_from"]) / "meta.json").exists():
            raise FileNotFoundError(f"{config['init_from']}: not a training checkpoint (no meta.json)")
    for start in (config["branch_from"], config["init_from"]):
        problem = start and checkpoint.verify(start)
        if problem:
            raise ValueError(f"{start}: damaged checkpoint ({problem})")
    if config["init_from"]:
        _check_same_model(config["init_from"], config["preset"], config["seq_len"])
    return config


def _check_same_model(init_from: str, preset: str, seq_len: int | None) -> None:
    """Continual pretraining keeps the model: refuse a starting checkpoint of another shape in one line
    (the workers would fail on it only after Ray started, and retry)."""
    from trainer.model import preset_config

    meta = checkpoint.read_meta(init_from)
    if meta["preset"] != preset:
        raise ValueError(
            f"--init-from {init_from}: a {meta['preset']} model, this run trains {preset} "
            f"(continual pretraining keeps the model: --preset {meta['preset']})"
        )
    saved = meta["model"]
    wanted = vars(preset_config(preset, saved["vocab_size"], seq_len=seq_len))
    for key, value in wanted.items():
        if saved.get(key) != value:
            raise ValueError(
                f"--init-from {init_from}: its model has {key}={saved.get(key)!r}, preset {preset} "
                f"has {value!r} (continual pretraining keeps the model: pick its preset and seq_len)"
            )


def placement_check(workers: int, gpu: bool, address: str | None) -> tuple[str | None, str | None]:
    """(why the workers cannot run, a note about how they will) for a local Ray instance; a cluster
    (--address, RAY_ADDRESS) places its workers itself. More GPU workers than GPUs are refused (Ray would
    wait for GPUs that never come); more CPU workers than cores run, sharing them, and a note says so."""
    if address or os.environ.get("RAY_ADDRESS"):
        return None, None
    if gpu:
        import torch

        gpus = torch.cuda.device_count()
        if workers > gpus:
            return f"train.gpu: {workers} worker(s) need one GPU each, this machine has {gpus}", None
        return None, None
    cores = os.cpu_count() or 1
    if workers > cores:
        return None, (
            f"note: {workers} CPU workers on {cores} cores share them: each step is slower, "
            f"and the global batch counts {workers} ranks"
        )
    return None, None


def local_cpus(workers: int) -> int:
    """CPUs of a local Ray instance for `workers` training workers (one each, and never fewer than 2)."""
    return max(2, workers)


def fit(config: dict, run: TrainSettings, address: str | None = None):
    """Run (or resume) one training on Ray; returns the `ray.train.Result`. `config` (`loop_config`) says what
    each worker trains and names the run; `run` how it runs (workers, GPUs, retries, checkpoints kept).
    A caller that runs differently from the `train:` settings says so: `dataclasses.replace(run, ...)`."""
    # first: a bad --address fails before the heavy imports
    connect(address, num_cpus=local_cpus(run.workers))
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchTrainer

    from trainer.train_loop import train_loop_per_worker

    storage.path(config["out_dir"]).mkdir(parents=True, exist_ok=True)
    trainer = TorchTrainer(
        train_loop_per_worker,
        train_loop_config=config,
        scaling_config=ScalingConfig(num_workers=run.workers, use_gpu=run.gpu),
        run_config=RunConfig(
            **_ray_storage(config["out_dir"]),
            name=config["run_name"],
            failure_config=FailureConfig(max_failures=run.max_failures),
            checkpoint_config=CheckpointConfig(num_to_keep=run.keep_checkpoints),
        ),
    )
    return trainer.fit()


def _ray_storage(out_dir: str) -> dict:
    """Where Ray Train keeps the run: a local folder, or an object store through its pyarrow file system
    (Ray uploads each reported checkpoint there and restores the run from it)."""
    if not storage.is_remote(out_dir):
        return {"storage_path": out_dir}
    filesystem, key = storage.fs_path(out_dir)
    return {"storage_path": key, "storage_filesystem": filesystem}


def read_metrics(out: str | Path, run_name: str | None = None) -> list[dict]:
    """The metric lines of OUT/train/metrics.jsonl (of one run if named), in order."""
    import json

    path = layout.metrics_path(layout.train_dir(out))
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if run_name is None or r["run"] == run_name]
