"""The storage layer against the loopback S3 server: one URI spelling per store, pathlib's verbs on both."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3_server

from pipeline import layout, storage


def test_local_paths_stay_pathlib_and_s3a_is_s3():
    assert storage.path("runs/demo") == Path("runs/demo")
    assert storage.path("file:///data/run") == Path("/data/run")
    assert str(storage.path("s3a://bucket/run/")) == "s3://bucket/run"
    assert storage.path("s3a://bucket/run") == storage.path("s3://bucket/run")
    assert str(layout.docs_dir("s3://bucket/run", "filter")) == "s3://bucket/run/docs/filter"
    assert not hasattr(storage.path("s3://bucket/run"), "__fspath__")  # open()/os.* refuse it loudly
    with pytest.raises(storage.StorageError, match="unknown storage scheme 'hdfs2'"):
        storage.path("hdfs2://x/y")
    with pytest.raises(storage.StorageError, match="needs a bucket"):
        storage.path("s3://")


def test_object_paths_answer_pathlib_verbs(s3_bucket):
    run = storage.path(s3_bucket) / "run"
    assert not run.exists()
    (run / "a" / "x.txt").write_text("hello")
    (run / "a" / "b" / "y.parquet").write_bytes(b"12345")
    (run / "z.parquet").write_bytes(b"")
    assert run.is_dir() and (run / "a" / "x.txt").is_file() and not (run / "a").is_file()
    assert (run / "a" / "x.txt").read_text() == "hello"
    (run / "raw.warc.gz").write_bytes(b"not gzip")  # stored as given: no compression by file name
    assert (run / "raw.warc.gz").read_bytes() == b"not gzip"
    (run / "raw.warc.gz").unlink()
    assert [p.name for p in run.iterdir()] == ["a", "z.parquet"]
    assert [str(p.relative_to(run)) for p in run.glob("**/*.parquet")] == ["a/b/y.parquet", "z.parquet"]
    assert [str(p.relative_to(run)) for p in run.glob("*.parquet")] == ["z.parquet"]
    assert [(rel, size) for rel, size, _ in storage.files_under(run)] == [
        ("a/b/y.parquet", 5),
        ("a/x.txt", 5),
        ("z.parquet", 0),
    ]
    size, mtime = (run / "a" / "x.txt").size_mtime()
    assert size == 5 and mtime > 0
    with pytest.raises(FileNotFoundError):
        (run / "missing").read_bytes()
    (run / "z.parquet").unlink()
    (run / "z.parquet").unlink(missing_ok=True)
    storage.rmtree(run / "a")
    # pyarrow may leave an empty folder marker ("run/") behind, never a file
    assert not (run / "a").exists() and storage.files_under(run) == []


def test_pyarrow_reads_and_writes_through_fs_path(s3_bucket, tmp_path):
    table = pa.table({"text": ["a", "b"], "n": [1, 2]})
    for where in (f"{s3_bucket}/t/part-0.parquet", tmp_path / "t" / "part-0.parquet"):
        storage.path(where).parent.mkdir(parents=True, exist_ok=True)
        fs, inner = storage.fs_path(where)
        pq.write_table(table, inner, filesystem=fs)
        assert pq.read_table(inner, filesystem=fs).equals(table)


def test_the_tests_never_reach_a_real_store():
    assert os.environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert s3_server.start() == os.environ["AWS_ENDPOINT_URL"]


def test_copy_uploads_and_downloads_a_tree(s3_bucket, tmp_path):
    local = tmp_path / "tree"
    (local / "a").mkdir(parents=True)
    (local / "a" / "x.bin").write_bytes(b"\x00\x01" * 1000)
    (local / "y.txt").write_text("y")
    storage.copy(local, f"{s3_bucket}/up")
    assert s3_server.keys(f"{s3_bucket}/up") == ["a/x.bin", "y.txt"]
    storage.copy(f"{s3_bucket}/up", tmp_path / "down")
    assert (tmp_path / "down" / "a" / "x.bin").read_bytes() == b"\x00\x01" * 1000
    with pytest.raises(FileNotFoundError):
        storage.copy(f"{s3_bucket}/nothing", tmp_path / "none")


def test_demo_crawl_generated_straight_to_a_bucket(s3_bucket):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "jobs", "demo-crawl", "--output", f"{s3_bucket}/crawl"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert any(key.endswith(".warc.gz") for key in s3_server.keys(f"{s3_bucket}/crawl"))
