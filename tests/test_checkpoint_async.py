"""Background (asynchronous) checkpoints: a training killed (SIGKILL, no clean-up) right after a step never
leaves a checkpoint that looks complete but is not, and rerunning it resumes to the loss of an uninterrupted
run. A checkpoint being written has no meta.json until its write finished.

One rank in a subprocess, the tiny preset, a checkpoint at every step (so a write is in flight when the kill
comes); the 2-rank async resume is in tests/test_train_dist.py.
"""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.distributed.checkpoint as dcp

from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.local import latest_checkpoint, local_report, run_rank
from trainer.train import loop_config, read_metrics
from trainer.train_loop import Trainer

REPO = Path(__file__).resolve().parent.parent
KILL_AFTER_STEP = 3  # its line is logged once checkpoint 1 is complete, while checkpoint 2 may be in flight
RUN_TIMEOUT_S = 180  # a tiny 8-step run takes seconds; a hang in a checkpoint write never ends


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt_async")
    write_demo_shards(path, docs_per_domain=40, anneal_docs=1, val_docs=8)
    return path


def config(out, name, **extra):
    settings = dict(
        steps=8, warmup_steps=2, decay_fraction=0.25, lr=3e-3, micro_batch=2, grad_accum=1, eval_windows=4,
        log_every=1, eval_every=4, ckpt_every=1, threads=1, fsdp="off", ckpt_async=True,
    )  # fmt: skip
    return loop_config(load_config()["train"], out, name, **{**settings, **extra})


def test_meta_json_is_written_after_the_background_write(out, tmp_path):
    trainer = Trainer(config(out, "meta"), torch.device("cpu"), local_report(out / "train", "meta"))
    pending = trainer.save(tmp_path)
    assert not (tmp_path / "meta.json").exists()  # started, not finished: not a checkpoint yet
    pending.finish()
    assert json.loads((tmp_path / "meta.json").read_text())["step"] == 0
    assert dcp.FileSystemReader(str(tmp_path)).read_metadata().state_dict_metadata


def test_killed_right_after_a_step_resumes_to_the_uninterrupted_loss(out):
    cfg = config(out, "killed")
    script = "import json, sys; from trainer.local import run_rank; run_rank(json.loads(sys.argv[1]))"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-c", script, json.dumps(cfg)], env=env, cwd=REPO)
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while not [m for m in read_metrics(out, "killed") if m["step"] >= KILL_AFTER_STEP]:
            assert proc.poll() is None, f"the run ended (rc {proc.returncode}) before step {KILL_AFTER_STEP}"
            assert time.monotonic() < deadline, f"no step {KILL_AFTER_STEP} in {RUN_TIMEOUT_S} s (a hang?)"
            time.sleep(0.01)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run ended before the kill: nothing was interrupted"

    run_dir = out / "train" / "killed"
    for directory in run_dir.glob("checkpoint_*"):
        if (directory / "meta.json").exists():  # looks complete: every rank's DCP data must be there
            step = json.loads((directory / "meta.json").read_text())["step"]
            assert directory.name == f"checkpoint_{step:06d}"
            assert (directory / ".metadata").exists() and (directory / "__0_0.distcp").exists(), directory
    resumed_from = latest_checkpoint(out / "train", "killed")
    assert resumed_from is not None, sorted(p.name for p in run_dir.iterdir())
    final = run_rank(cfg)  # the rerun resumes from the newest complete checkpoint, if any
    uninterrupted = run_rank(config(out, "whole"))
    assert final["step"] == 8 and final["train_loss"] == pytest.approx(uninterrupted["train_loss"], abs=1e-6)
    assert final["val_loss"] == pytest.approx(uninterrupted["val_loss"], abs=1e-6)
    assert [m["step"] for m in read_metrics(out, "killed")] == list(range(1, 9))  # replayed lines trimmed
