"""One training per OUT/train, and no stage rewriting the shards a training reads.

A training holds OUT's run lock shared (pipeline/runlock.py: stages hold it exclusively) and its own
folder's lock exclusively. Tried with real processes: a lock holder started here, and a real trainer
(its own local Ray, a private RAY_TMPDIR) against a second trainer and the `shards` stage."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.runlock import RunLocked, folder_lock, run_lock
from trainer.demo_shards import write_demo_shards

REPO = Path(__file__).resolve().parent.parent
HOLD = (
    "import sys, time; from pipeline.runlock import run_lock\n"
    "with run_lock(sys.argv[1], shared=sys.argv[2] == 'shared'):\n    print('held', flush=True); time.sleep(120)"
)
START_TIMEOUT_S = 240  # Ray start + worker group + first step, on a loaded machine


def _hold(out: Path, mode: str) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(out), mode], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _cli(module: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, timeout=300, cwd=REPO, env=env
    )


def test_readers_share_and_a_writer_is_refused_naming_a_reader(tmp_path):
    out = tmp_path / "run"
    reader = _hold(out, "shared")
    try:
        with run_lock(out, shared=True):  # a second reader of the same shards
            pass
        with pytest.raises(RunLocked, match=f"being read by pid {reader.pid}"):
            with run_lock(out):
                pass
    finally:
        reader.send_signal(signal.SIGKILL)
        reader.wait()
    with run_lock(out):  # the dead reader's lock went with it
        pass


def test_folder_lock_excludes_a_second_writer(tmp_path):
    folder = tmp_path / "run" / "train"
    with folder_lock(folder, pick="another --out"):
        code = f"from pipeline.runlock import folder_lock\nwith folder_lock({str(folder)!r}, 'x'):\n    pass"
        proc = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=60
        )
        assert proc.returncode == 1 and f"being written by pid {os.getpid()}" in proc.stderr, proc.stderr


def test_training_is_refused_while_a_stage_writes(tmp_path):
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=20, anneal_docs=4, val_docs=2)
    writer = _hold(out, "exclusive")
    try:
        proc = _cli("trainer", "train", "--out", str(out), "--steps", "2")
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, proc.stderr[-2000:]
        assert lines[0].startswith("FAILED: ") and f"being written by pid {writer.pid}" in lines[0], lines
        assert not layout.train_dir(out).exists()  # refused before writing anything
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()


def test_running_training_excludes_a_second_training_and_the_shards_stage(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="rayl-", dir="/tmp"))  # short: Ray's socket paths live under it
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=20)
    config = tmp_path / "train.yaml"  # many steps, nothing slow between them: still training when tried
    config.write_text("train:\n  max_epochs: 100000\n  eval_every: 100000\n  ckpt_every: 100000\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    env.update(RAY_TMPDIR=str(temp_dir), RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "trainer", "train", "--out", str(out), "--config", str(config)]
    cmd += ["--preset", "tiny", "--steps", "5000", "--workers", "1"]
    cmd += ["--set", "train.threads=1", "--set", "train.log_every=1"]
    metrics = layout.metrics_path(layout.train_dir(out))
    with (tmp_path / "stderr.log").open("w") as stderr:
        first = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (metrics.exists() and metrics.read_text().strip()):
            assert first.poll() is None, (tmp_path / "stderr.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"no training step within {START_TIMEOUT_S} s"
            time.sleep(0.2)
        second = _cli("trainer", "train", "--out", str(out), "--steps", "2", "--run-name", "other", env=env)
        lines = second.stderr.strip().splitlines()
        assert second.returncode == 1 and len(lines) == 1, second.stderr[-2000:]
        assert f"being written by pid {first.pid}" in lines[0] and str(layout.train_dir(out)) in lines[0]
        stage = _cli("jobs", "shards", "--output", str(out), env=env)
        assert stage.returncode == 1, stage.stderr[-2000:]
        assert f"being read by pid {first.pid}" in stage.stderr.strip().splitlines()[-1], stage.stderr[-2000:]
        assert first.poll() is None  # the first training goes on
    finally:
        if first.poll() is None:
            first.send_signal(signal.SIGTERM)
            first.wait(timeout=60)
        shutil.rmtree(temp_dir, ignore_errors=True)
    runs = {json.loads(line)["run"] for line in metrics.read_text().splitlines()}
    assert runs == {"main"}  # the refused training logged nothing
    assert not (layout.train_dir(out) / "other").exists()
