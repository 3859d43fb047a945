"""Inputs on an object store (the loopback S3 server of tests/s3_server.py): INPUT=s3://… prefixes and
globs resolve like local ones, extract reads WARC records from the store and gives the documents it
gives from local disk, a crawl by id is read from an S3 source, fingerprints see a replaced object."""

from __future__ import annotations

import gzip
import json
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import s3_server

from jobs import extract
from jobs.import_docs import input_paths as import_paths
from pipeline import fingerprint, layout
from pipeline.config import load_config
from pipeline.fixtures.demo_crawl import generate_demo_crawl
from pipeline.io.documents import read_documents
from pipeline.io.warc import iter_records, list_inputs
from pipeline.settings import ImportSettings


def _put(uri: str, data: bytes) -> None:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=data)


@pytest.fixture(scope="module")
def demo_crawl(tmp_path_factory) -> list[Path]:
    return generate_demo_crawl(tmp_path_factory.mktemp("s3demo") / "crawl", seed=11, n_pages=60)


def test_a_prefix_and_globs_over_it_pick_the_right_files(s3_bucket):
    for key in (
        "crawl/a.warc.gz",
        "crawl/b.warc",
        "crawl/sub/c.warc.gz",
        "crawl/x.wet.gz",
        "crawl/notes.txt",
        "other/d.warc.gz",
    ):
        _put(f"{s3_bucket}/{key}", b"WARC/1.0\r\n")
    at = f"{s3_bucket}/crawl".__add__
    # a prefix: every WARC/ARC file below it, debris left out (with or without the trailing slash)
    assert list_inputs(f"{s3_bucket}/crawl/") == [at("/a.warc.gz"), at("/b.warc"), at("/sub/c.warc.gz")]
    assert list_inputs(f"{s3_bucket}/crawl") == list_inputs(f"{s3_bucket}/crawl/")
    # `*` stays in one folder; `**` crosses folders (zero or more, as in pathlib)
    assert list_inputs(f"{s3_bucket}/crawl/*.warc.gz") == [at("/a.warc.gz")]
    assert list_inputs(f"{s3_bucket}/crawl/**/*.warc.gz") == [at("/a.warc.gz"), at("/sub/c.warc.gz")]
    # a glob matching folders walks them; s3a:// names the same objects; a file named is taken as is
    assert list_inputs(f"{s3_bucket}/*") == [
        *list_inputs(f"{s3_bucket}/crawl/"),
        f"{s3_bucket}/other/d.warc.gz",
    ]
    assert list_inputs(f"{s3_bucket}/crawl/*.warc.gz".replace("s3://", "s3a://")) == [at("/a.warc.gz")]
    assert list_inputs(f"{at('/notes.txt')},{at('/b.warc')}") == [at("/b.warc"), at("/notes.txt")]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        list_inputs(f"{s3_bucket}/crawl/*.arc.gz")
    with pytest.raises(SystemExit, match="no WARC files found"):
        extract.input_paths(load_config(), [f"{s3_bucket}/nothing/"])


def test_import_reads_a_corpus_on_the_store_like_local_files(s3_bucket, tmp_path):
    records = [{"text": f"document {i}", "url": f"https://e.com/{i}", "id": i} for i in range(5)]
    (tmp_path / "part.jsonl.gz").write_bytes(gzip.compress("\n".join(map(json.dumps, records)).encode()))
    pq.write_table(pa.Table.from_pylist(records), tmp_path / "part.parquet")
    (tmp_path / "README.md").write_text("not a corpus file")
    s3_server.upload_tree(tmp_path, f"{s3_bucket}/corpus")

    remote = import_paths({}, [f"{s3_bucket}/corpus/"])
    assert remote == [f"{s3_bucket}/corpus/part.jsonl.gz", f"{s3_bucket}/corpus/part.parquet"]
    fields = ImportSettings.from_config({})
    for uri, local in zip(remote, sorted(map(str, tmp_path.glob("part.*"))), strict=True):
        got = pa.Table.from_batches(list(read_documents(uri, fields, "c", 100)))
        want = pa.Table.from_batches(list(read_documents(local, fields, "c", 100)))
        assert got.num_rows == 5 and got.drop_columns(["warc_file"]).equals(want.drop_columns(["warc_file"]))


def test_warc_records_read_from_the_store_equal_the_local_ones(s3_bucket, demo_crawl):
    s3_server.upload_tree(demo_crawl[0].parent, f"{s3_bucket}/crawl")
    remote = list_inputs(f"{s3_bucket}/crawl/")
    assert [uri.rsplit("/", 1)[1] for uri in remote] == [p.name for p in demo_crawl]
    for uri, local in zip(remote, demo_crawl, strict=True):  # the broken and the whole-file-gzip ones too
        got = [{**vars_of(r), "warc_file": ""} for r in iter_records(uri)]
        want = [{**vars_of(r), "warc_file": ""} for r in iter_records(str(local))]
        assert got == want and len(got) > 10


def vars_of(record) -> dict:
    import dataclasses

    return dataclasses.asdict(record)


def test_fingerprint_changes_when_an_input_object_is_replaced(s3_bucket):
    uri = f"{s3_bucket}/crawl/a.warc.gz"
    _put(uri, b"first version")
    _put(f"{s3_bucket}/crawl/b.warc.gz", b"another file")
    files = list_inputs(f"{s3_bucket}/crawl/")
    before, folder_before = (
        fingerprint.warc_input_fingerprint(files),
        fingerprint.warc_input_fingerprint([f"{s3_bucket}/crawl"]),
    )
    assert fingerprint.warc_input_fingerprint(files) == before  # nothing changed: the same fingerprint
    time.sleep(1.1)  # an object store keeps modification times to the second
    _put(uri, b"other version")  # same size, new contents
    assert fingerprint.warc_input_fingerprint(files) != before
    assert fingerprint.warc_input_fingerprint([f"{s3_bucket}/crawl"]) != folder_before
    replaced = fingerprint.warc_input_fingerprint(files)
    _put(uri, b"a longer third version")  # a new size is seen at once
    assert fingerprint.warc_input_fingerprint(files) != replaced


CRAWL = "CC-MAIN-2099-01"


def test_a_crawl_by_id_is_read_from_an_s3_source(s3_bucket, demo_crawl):
    """SOURCE=s3: the crawl's warc.paths.gz and WARC files come from the bucket, not over HTTPS."""
    paths = [f"crawl-data/{CRAWL}/segments/{seg}/warc/{p.name}" for seg in ("1.0", "2.0") for p in demo_crawl]
    _put(f"{s3_bucket}/crawl-data/{CRAWL}/warc.paths.gz", gzip.compress("\n".join(paths).encode()))
    for path, local in zip(paths, [*demo_crawl, *demo_crawl], strict=True):
        _put(f"{s3_bucket}/{path}", local.read_bytes())
    cfg = load_config(overrides={"extract.commoncrawl_source": "s3", "extract.commoncrawl_s3_uri": s3_bucket})
    uris = extract.input_paths(cfg, [f"crawl:{CRAWL}/1/2"])
    assert uris == [f"{s3_bucket}/{p}" for p in paths[:2]]  # the first segment, two WARCs of it
    assert [r.url for r in iter_records(uris[0])] == [r.url for r in iter_records(str(demo_crawl[0]))]
    with pytest.raises(ValueError, match="does not exist"):
        extract.input_paths(cfg, ["crawl:CC-MAIN-1999-01/1"])
    with pytest.raises(ValueError, match="must be one of https, s3"):
        extract.input_paths(load_config(overrides={"extract.commoncrawl_source": "ftp"}), [f"crawl:{CRAWL}"])


def _docs(out: str, folder) -> pa.Table:
    """A stage's rows in a fixed order, each row's WARC named by its file name (a path or a URI)."""
    table = pq.read_table(folder(out, "extract")).drop_columns(["extract_ms"])  # a timing: never equal
    names = pa.array([name.rsplit("/", 1)[1] for name in table.column("warc_file").to_pylist()])
    table = table.set_column(table.schema.get_field_index("warc_file"), "warc_file", names)
    return table.sort_by([("warc_file", "ascending"), ("warc_offset", "ascending"), ("doc_id", "ascending")])


@pytest.mark.spark
def test_extract_from_the_store_gives_the_documents_it_gives_from_local_disk(
    spark, s3_bucket, demo_crawl, tmp_path
):
    """The extract stage reads the uploaded crawl from s3:// inside the Spark tasks (OUT local); its
    kept and rejected documents equal a run over the same files on local disk; a rerun is skipped."""
    from jobs.chain import run_stage

    s3_server.upload_tree(demo_crawl[0].parent, f"{s3_bucket}/crawl")
    cfg = load_config(overrides={"extract.url_prechecks": []})
    from_s3, from_disk = str(tmp_path / "s3"), str(tmp_path / "disk")
    remote = extract.input_paths(cfg, [f"{s3_bucket}/crawl/*.warc.gz"])
    run_stage(spark, cfg, "extract", [str(p) for p in demo_crawl], from_disk)
    assert run_stage(spark, cfg, "extract", remote, from_s3)
    for folder in (layout.docs_dir, layout.rejected_dir):
        got, want = _docs(from_s3, folder), _docs(from_disk, folder)
        if folder is layout.rejected_dir:  # an unreadable record's id is a hash of where it lies: file@offset
            got, want = got.drop_columns(["doc_id"]), want.drop_columns(["doc_id"])
        assert got.num_rows > 0 and got.equals(want), folder.__name__
    assert set(pq.read_table(layout.docs_dir(from_s3, "extract")).column("warc_file").to_pylist()) <= set(
        remote
    )
    assert run_stage(spark, cfg, "extract", remote, from_s3) is None  # same objects: already complete
