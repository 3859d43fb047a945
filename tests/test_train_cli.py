"""The trainer's command line refuses bad requests in one line before Ray starts: a run name that would
leave OUT/train, a starting checkpoint of another model, and more GPU workers than the machine has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.train import loop_config

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ["../../x", "..", ".", "a/b", "/abs", ".hidden", "", "x" * 200]


def trainer_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture()
def out(tmp_path):
    path = tmp_path / "nested" / "run"
    write_demo_shards(path, docs_per_domain=20, anneal_docs=4, val_docs=2)
    return path


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_run_names_are_refused(name, tmp_path):
    train = load_config()["train"]
    with pytest.raises(ValueError, match="--run-name"):
        loop_config(train, tmp_path, name)
    with pytest.raises(ValueError, match="--branch-from-pre-decay"):
        loop_config(train, tmp_path, "main", branch_from_pre_decay=name)


def test_cli_refuses_a_traversal_run_name_before_writing(out):
    before = sorted(p for p in out.parent.parent.rglob("*"))
    proc = trainer_cli("train", "--out", str(out), "--run-name", "../../x", "--steps", "2")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: --run-name: '../../x'"), lines
    assert sorted(p for p in out.parent.parent.rglob("*")) == before  # nothing written, inside or out


def test_init_from_a_checkpoint_of_another_preset_is_one_line(out):
    from trainer.local import latest_checkpoint, run_rank

    train = load_config()["train"]
    settings = dict(steps=2, warmup_steps=1, micro_batch=2, grad_accum=1, eval_windows=2, threads=1)
    run_rank(loop_config(train, out, "tiny", preset="tiny", **settings))
    start = latest_checkpoint(out / "train", "tiny")
    proc = trainer_cli(
        "train", "--out", str(out), "--run-name", "big", "--preset", "124m", "--init-from", str(start)
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(f"FAILED: --init-from {start}: a tiny model, this run trains 124m"), lines
    with pytest.raises(ValueError, match="seq_len=64, preset tiny has 32"):  # same preset, other length
        loop_config(train, out, "short", preset="tiny", seq_len=32, init_from=str(start))
    loop_config(train, out, "same", preset="tiny", init_from=str(start))  # the same shape is accepted


def test_more_gpu_workers_than_gpus_are_refused_before_ray(out):
    import torch

    workers = torch.cuda.device_count() + 1
    proc = trainer_cli(
        "train", "--out", str(out), "--set", "train.gpu=true", "--workers", str(workers), "--steps", "2"
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert (
        lines[0]
        == f"FAILED: train.gpu: {workers} worker(s) need one GPU each, this machine has {workers - 1}"
    )
    assert not (out / "train").exists()


def test_more_cpu_workers_than_cores_run_with_a_note(monkeypatch):
    import os

    from trainer.train import placement_check

    cores = os.cpu_count()
    assert placement_check(cores, False, None) == (None, None)
    problem, note = placement_check(cores + 1, False, None)
    assert problem is None and note.startswith(f"note: {cores + 1} CPU workers on {cores} cores share them")
    assert placement_check(cores + 1, False, "10.0.0.1:6379") == (None, None)  # a cluster places them
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:6379")
    assert placement_check(cores + 1, True, None) == (None, None)


def test_set_pairs_and_daily_flags_reach_the_workers_config(tmp_path):
    from pipeline.settings import TrainSettings
    from trainer.__main__ import _settings, parse_args

    argv = ["train", "--out", str(tmp_path), "--steps", "7", "--run-name", "r1", "--set", "train.lr=3e-4"]
    argv += ["--set", "train.threads=1", "--set", "train.gpu=true", "--set", "train.steps=9"]
    cfg, given = _settings(parse_args(argv))
    assert given == {"lr": 3e-4, "threads": 1, "gpu": True, "steps": 7, "run_name": "r1"}  # the flag wins
    train = TrainSettings.from_config(cfg)
    assert (train.gpu, train.run_name, train.workers) == (True, "r1", load_config()["train"]["workers"])
    config = loop_config(train, tmp_path, train.run_name)
    assert (config["lr"], config["threads"], config["steps"], config["run_name"]) == (3e-4, 1, 7, "r1")
    for removed in (["--lr", "3e-4"], ["--gpu"], ["--replay", "0.1"]):  # config keys: --set train.KEY=VALUE
        with pytest.raises(SystemExit):
            parse_args(["train", "--out", str(tmp_path), *removed])


@pytest.mark.parametrize(
    ("pair", "message"),
    [
        ("train.lr=-1", "FAILED: train.lr: must be in (0, 1], got -1"),
        ("train.warmup_stepz=3", "FAILED: train.warmup_stepz: unknown key"),
        ("train.steps", "FAILED: --set train.steps: expected KEY=VALUE"),
        ("train.preset=huge", "FAILED: train.preset: 'huge' is none of tiny"),
    ],
)
def test_a_bad_set_value_is_one_line_before_ray(out, pair, message):
    proc = trainer_cli("train", "--out", str(out), "--set", pair)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr[-2000:]
    assert lines[0].startswith(message), lines
    assert not (out / "train").exists()


def test_library_overrides_are_checked_against_the_settings_fields(tmp_path):
    from pipeline.config import ConfigError

    train = load_config()["train"]
    with pytest.raises(ConfigError, match=r"train.decay_fraction: must be in \[0, 1\], got 1.5"):
        loop_config(train, tmp_path, "main", decay_fraction=1.5)
    with pytest.raises(ConfigError, match="train.fsdp: 'sometimes' is none of auto, on, off"):
        loop_config(train, tmp_path, "main", fsdp="sometimes")
