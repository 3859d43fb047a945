"""Crash-safe resume: `crawl-to-shards` killed (SIGKILL, no clean-up) at three points and rerun gives
byte-identical shards and identical stats to the uninterrupted run of the `demo_run` fixture.

Kill points (pipeline/faults.py): inside extract after its task attempts wrote their parts; between
the filter and quality stages; inside dedup's commit, after every file of its output was written but
before `_SUCCESS` (the moment a naive reader would take a half-written stage as complete).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq

from pipeline import layout, stages

REPO = Path(__file__).resolve().parent.parent
KILL_POINTS = ["scratch:extract", "before:quality", "publish:dedup"]


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != layout.SUCCESS  # the marker holds a run id, not data
    }


def _chain(crawl: Path, out: Path, config: Path, kill_at: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "WEBDATA_KILL_AT"}
    if kill_at:
        env["WEBDATA_KILL_AT"] = kill_at
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs",
            "crawl-to-shards",
            "--input",
            str(crawl),
            "--output",
            str(out),
            "--config",
            str(config),
            "--master",
            "local[2]",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
    )


def test_killed_three_times_then_rerun_matches_uninterrupted_run(demo_run, tmp_path):
    reference, _, _ = demo_run
    crawl = reference.parent / "crawl"
    out = tmp_path / "run"
    config = layout.config_path(reference)  # the very config the reference run used

    for point in KILL_POINTS:
        proc = _chain(crawl, out, config, point)
        assert proc.returncode == -signal.SIGKILL, f"{point}: expected a kill\n{proc.stderr[-2000:]}"
        stage = point.split(":")[1]
        assert not layout.stage_done(out, stage), f"{point}: a killed stage must not look complete"
    proc = _chain(crawl, out, config, None)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "already complete" in proc.stdout  # the rerun skipped finished stages

    assert _tree_digest(layout.shards_dir(out)) == _tree_digest(layout.shards_dir(reference))
    for stage in stages.NAMES:
        path = layout.stats_path(reference, stage)
        if path.exists():
            assert pq.read_table(layout.stats_path(out, stage)).equals(pq.read_table(path)), stage
    kept_ids = pq.read_table(layout.docs_dir(out, "dedup"), columns=["doc_id"]).column("doc_id").to_pylist()
    assert len(kept_ids) == len(set(kept_ids))  # no duplicates from the interrupted attempts
