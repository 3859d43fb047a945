"""`crawl-to-shards` with OUT on the loopback S3 server gives the shards and stats of the same run on
local disk (the session's `demo_run`), byte for byte; every stage folder holds exactly the files its
marker lists; a rerun finds every stage complete."""

from __future__ import annotations

import hashlib

import pyarrow.parquet as pq
import pytest

from pipeline import commit, layout, stages, storage

pytestmark = pytest.mark.spark


def _digest(root) -> dict[str, str]:
    return {
        rel: hashlib.sha256((storage.path(root) / rel).read_bytes()).hexdigest()
        for rel, _size, _mtime in storage.files_under(root)
        if rel != layout.SUCCESS  # the marker holds a run id, not data
    }


def _stats(out, stage):
    fs, where = storage.fs_path(layout.stats_path(out, stage))
    return pq.read_table(where, filesystem=fs)


def test_crawl_to_shards_with_out_on_s3_matches_the_local_run(demo_run, spark, s3_bucket, capsys):
    from jobs.chain import crawl_to_shards

    reference, cfg, _ = demo_run
    warcs = sorted(str(p) for p in (reference.parent / "crawl").glob("*.warc.gz"))
    out = f"{s3_bucket}/run"
    crawl_to_shards(spark, cfg, warcs, out)

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

    capsys.readouterr()
    crawl_to_shards(spark, cfg, warcs, out)
    assert capsys.readouterr().out.count("already complete") == len(stages.NAMES)
