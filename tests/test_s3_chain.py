"""`crawl-to-shards` with INPUT and OUT on the loopback S3 server (the demo crawl uploaded to a bucket)
gives the shards and stats of the same run on local disk (the session's `demo_run`), byte for byte; every stage folder holds exactly the files its
marker lists; a rerun finds every stage complete."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from pipeline import commit, layout, stages, storage

pytestmark = pytest.mark.spark
REPO = Path(__file__).resolve().parent.parent


def _digest(root) -> dict[str, str]:
    return {
        rel: hashlib.sha256((storage.path(root) / rel).read_bytes()).hexdigest()
        for rel, _size, _mtime in storage.files_under(root)
        if rel != layout.SUCCESS  # the marker holds a run id, not data
    }


def _stats(out, stage):
    fs, where = storage.fs_path(layout.stats_path(out, stage))
    return pq.read_table(where, filesystem=fs)


def _chain(inp: str, out: str, config) -> subprocess.CompletedProcess:
    """`python -m jobs crawl-to-shards` in its own process, on one core (the reference ran on two)."""
    return subprocess.run(
        [sys.executable, "-m", "jobs", "crawl-to-shards", "--input", inp, "--output", out]
        + ["--config", str(config), "--master", "local[1]"],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO,
    )


def test_crawl_to_shards_on_s3_matches_the_local_run(demo_run, s3_bucket):
    import s3_server

    reference, _, _ = demo_run
    s3_server.upload_tree(reference.parent / "crawl", f"{s3_bucket}/crawl")
    out = f"{s3_bucket}/run"
    config = layout.config_path(reference)  # the very config the reference run used
    proc = _chain(f"{s3_bucket}/crawl/*.warc.gz", out, config)
    assert proc.returncode == 0, proc.stderr[-3000:]

    shards = _digest(layout.shards_dir(out))
    assert shards == _digest(layout.shards_dir(reference)) and "manifest.json" in shards
    for stage in stages.NAMES:
        assert _stats(out, stage).equals(_stats(reference, stage)), stage
        marker = commit.read_marker(layout.stage_dir(out, stage))
        listed = {rel for rel, _size in marker[commit.PARTS]}
        folders = [layout.stage_dir(out, stage)] + (
            [] if stage == "shards" else [layout.rejected_dir(out, stage)]
        )
        on_store = {
            f"{folder.relative_to(storage.path(out)).as_posix()}/{rel}"
            for folder in folders
            for rel, _size, _mtime in storage.files_under(folder)
            if rel != layout.SUCCESS
        }
        assert on_store == {rel for rel in listed if not rel.startswith("stats/")}, stage

    again = _chain(f"{s3_bucket}/crawl/*.warc.gz", out, config)
    assert again.returncode == 0 and again.stdout.count("already complete") == len(stages.NAMES), again.stdout
