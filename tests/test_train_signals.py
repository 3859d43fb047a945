"""SIGTERM or SIGINT to a training `python -m trainer train` that started its own Ray: the run stops, every Ray
process of that instance (GCS, raylet, agents, workers) is gone, and the exit is non-zero with one line.

Before: SIGTERM ended in Ray's own handler and the process aborted (exit -6, no message); SIGINT went to
Ray Train's graceful abort (exit 1, no message). The trainer gets a private RAY_TMPDIR, so its Ray session
is told apart from any other Ray on the machine; teardown kills only what this test started.
"""

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

import psutil
import pytest

from trainer.demo_shards import write_demo_shards

pytestmark = pytest.mark.ray

REPO = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 240  # Ray start + worker group + first step; generous for a loaded machine
EXIT_TIMEOUT_S = 30  # from the signal to the trainer's exit, Ray's shutdown included
SETTLE_S = 3  # then nothing of its Ray session may be left


def _session_processes(temp_dir: Path, known: dict[int, float]) -> list[psutil.Process]:
    """Live processes of the trainer's Ray session: those seen under the trainer (same pid and start time:
    not a recycled pid) and any whose command line names the session's temp dir."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "create_time"]):
        try:
            mine = known.get(proc.pid) == proc.info["create_time"]
            if mine or str(temp_dir) in " ".join(proc.info["cmdline"] or []):
                if proc.status() != psutil.STATUS_ZOMBIE:
                    found.append(proc)
        except psutil.Error:
            pass
    return found


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_training_and_every_ray_process(tmp_path, signum):
    temp_dir = Path(tempfile.mkdtemp(prefix="rays-", dir="/tmp"))  # short: Ray's socket paths live under it
    out = tmp_path / "run"
    write_demo_shards(out, docs_per_domain=20)
    config = tmp_path / "train.yaml"  # many steps, nothing slow between them: it is still training when hit
    config.write_text("train:\n  max_epochs: 100000\n  eval_every: 100000\n  ckpt_every: 100000\n")
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    pythonpath = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env.update(RAY_TMPDIR=str(temp_dir), PYTHONPATH=pythonpath, RAY_USAGE_STATS_ENABLED="0")
    cmd = [sys.executable, "-m", "trainer", "train", "--out", str(out), "--config", str(config)]
    cmd += ["--preset", "tiny", "--steps", "5000", "--workers", "1"]
    cmd += ["--set", "train.threads=1", "--set", "train.log_every=1"]
    metrics = out / "train" / "metrics.jsonl"
    known: dict[int, float] = {}
    with (tmp_path / "stdout.log").open("w") as stdout, (tmp_path / "stderr.log").open("w") as stderr:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=stdout, stderr=stderr)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not (metrics.exists() and metrics.read_text().strip()):
            assert proc.poll() is None, (tmp_path / "stderr.log").read_text()[-3000:]
            assert time.monotonic() < deadline, f"no training step within {START_TIMEOUT_S} s"
            time.sleep(0.2)
        tree = psutil.Process(proc.pid).children(recursive=True)
        known = {p.pid: p.create_time() for p in tree}
        assert len(known) >= 4, [p.name() for p in tree]  # GCS, raylet, agents, the train worker, ...
        proc.send_signal(signum)
        try:
            code = proc.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the trainer still runs {EXIT_TIMEOUT_S} s after {signum.name}")
        err = (tmp_path / "stderr.log").read_text().strip().splitlines()
        assert code == 128 + signum, (code, err[-5:])
        assert err[-1] == (
            f"FAILED: interrupted by {signum.name}: training stopped, stopped the local Ray instance"
        ), err[-5:]
        steps = [json.loads(line)["step"] for line in metrics.read_text().splitlines()]
        assert steps[-1] < 5000  # stopped mid-run, not finished
        time.sleep(SETTLE_S)
        left = _session_processes(temp_dir, known)
        assert not left, [(p.pid, p.name()) for p in left]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for p in _session_processes(temp_dir, known):  # never leak a Ray process into the rest of the suite
            try:
                p.kill()
            except psutil.Error:
                pass
        shutil.rmtree(temp_dir, ignore_errors=True)
