"""A damaged newest checkpoint no longer blocks resume: every rank records each file's size and sha256
when its write finished, a resume takes the newest checkpoint that still matches, and the command line
says which one it skipped and why (one line). Damages tried: meta.json deleted, a .distcp file truncated,
one byte of a .distcp flipped (same size), in-process and through Ray (`python -m trainer train`)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.config import load_config
from pipeline.settings import TrainSettings
from trainer import checkpoint
from trainer.demo_shards import write_demo_shards
from trainer.local import latest_checkpoint, run_rank
from trainer.train import loop_config, read_metrics

REPO = Path(__file__).resolve().parent.parent


def _truncate(directory: Path) -> None:
    path = directory / "__0_0.distcp"
    path.write_bytes(path.read_bytes()[:-100])


def _flip_byte(directory: Path) -> None:
    path = directory / "__0_0.distcp"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _drop_meta(directory: Path) -> None:
    (directory / "meta.json").unlink()


DAMAGES = {
    "truncated": (_truncate, "bytes, "),
    "flipped": (_flip_byte, "sha256 differs"),
    "no_meta": (_drop_meta, "no readable meta.json"),
}


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt_verify")
    write_demo_shards(path, docs_per_domain=40, anneal_docs=1, val_docs=8)
    return path


def _config(out: Path, name: str, **extra) -> dict:
    settings = dict(
        steps=6, warmup_steps=1, decay_fraction=0.25, lr=3e-3, micro_batch=2, grad_accum=1, eval_windows=4,
        log_every=1, eval_every=6, ckpt_every=2, threads=1, fsdp="off", ckpt_async=True,
    )  # fmt: skip
    return loop_config(load_config()["train"], out, name, **{**settings, **extra})


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_resume_falls_back_to_the_newest_checkpoint_that_verifies(shards, damage):
    spoil, why = DAMAGES[damage]
    name = f"dmg-{damage}"
    run_rank(_config(shards, name, stop_after=4))  # checkpoints at steps 2 and 4
    newest = latest_checkpoint(shards / "train", name)
    assert newest.name == "checkpoint_000004" and checkpoint.verify(newest) is None
    spoil(newest)
    intact, damaged = checkpoint.newest_intact(shards / "train" / name)
    assert intact.name == "checkpoint_000002"
    assert [(p.name, why in problem) for p, problem in damaged] == [("checkpoint_000004", True)], damaged
    final = run_rank(_config(shards, name))  # resumes at step 2, not at the damaged 4
    assert final["step"] == 6
    steps = [m["step"] for m in read_metrics(shards, name)]
    assert steps == list(range(1, 7))  # the lines after step 2 were trimmed and logged again


def test_a_damaged_start_checkpoint_is_one_line(shards):
    run_rank(_config(shards, "start", stop_after=2))
    start = latest_checkpoint(shards / "train", "start")
    _truncate(start)
    with pytest.raises(ValueError, match=r"damaged checkpoint \(__0_0.distcp is \d+ bytes"):
        _config(shards, "continued", init_from=str(start))


def test_ray_rerun_skips_the_damaged_checkpoints_and_says_so(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="rayv-", dir="/tmp"))  # short: Ray's socket paths live under it
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=20)
    config = tmp_path / "train.yaml"
    config.write_text(
        "train:\n  max_epochs: 100000\n  eval_every: 100000\n  ckpt_every: 2\n  keep_checkpoints: 3\n  max_failures: 0\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=str(temp_dir), RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "trainer", "train", "--out", str(out), "--config", str(config)]
    cmd += ["--preset", "tiny", "--steps", "10", "--workers", "1"]
    cmd += ["--set", "train.threads=1", "--set", "train.log_every=2"]
    run_dir = layout.train_dir(out) / "main"

    def train(*extra: str) -> subprocess.CompletedProcess:
        proc = subprocess.run([*cmd, *extra], capture_output=True, text=True, timeout=300, cwd=REPO, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    try:
        train("--stop-after", "6")  # checkpoints at steps 2, 4 and 6
        step4, step6 = sorted(p for p in run_dir.glob("checkpoint_*") if p.is_dir())[-2:]
        _truncate(step6)
        _drop_meta(step4)
        proc = train()
        notes = [line for line in proc.stderr.splitlines() if line.startswith("resume: ")]
        assert len(notes) == 1, proc.stderr[-3000:]
        assert (
            f"{step6.name}: __0_0.distcp is" in notes[0]
            and f"{step4.name}: no readable meta.json" in notes[0]
        )
        steps = [m["step"] for m in read_metrics(out, "main")]
        assert steps == [2, 4, 6, 8, 10], steps  # resumed at step 2: the replayed lines trimmed
    finally:
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_meta_holds_every_field_a_resume_compares(shards):
    run_rank(_config(shards, "fields", stop_after=2))
    meta = checkpoint.read_meta(latest_checkpoint(shards / "train", "fields"))
    assert set(checkpoint.RUN_FIELDS) <= set(meta)  # a missing one would compare None to None: never checked
    assert {k: meta[k] for k in ("preset", "steps", "micro_batch")} == {
        "preset": "tiny",
        "steps": 6,
        "micro_batch": 2,
    }


def test_every_train_key_is_compared_on_resume_unless_exempted():
    """The compared settings follow TrainSettings: a `train:` key added to default.yaml is checked on
    resume unless `checkpoint.MAY_CHANGE` names it, and an exemption naming no key is stale."""
    fields = {f.name for f in dataclasses.fields(TrainSettings)}
    assert checkpoint.MAY_CHANGE <= fields, checkpoint.MAY_CHANGE - fields
    assert set(checkpoint.TRAIN_FIELDS) == fields - checkpoint.MAY_CHANGE
    assert set(checkpoint.CONFIG_FIELDS) <= set(checkpoint.RUN_FIELDS)
    assert {"preset", "steps", "lr", "seed", "dataloader_workers"} <= set(checkpoint.TRAIN_FIELDS)
