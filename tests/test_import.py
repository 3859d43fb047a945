"""The import stage: an existing corpus (JSONL[.gz|.zst], Parquet) becomes the document table."""

from __future__ import annotations

import gzip
import json
import os
import random
import string
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.io.documents import document_row, read_documents, stable_doc_id
from pipeline.schema import DOC_SCHEMA
from pipeline.settings import ImportSettings


def _text(i: int) -> str:
    """Four lines of words drawn per document: no two documents are near-duplicates."""
    rng = random.Random(i)
    word = lambda: "".join(rng.choice(string.ascii_lowercase) for _ in range(6))  # noqa: E731
    return "\n".join(" ".join(word() for _ in range(12)) for _ in range(4))


def _fields(**over) -> ImportSettings:
    return ImportSettings.from_section(over)


def _rows(path: str, fields: ImportSettings) -> list[dict]:
    return [row for batch in read_documents(path, fields, "test-crawl", 3) for row in batch.to_pylist()]


def test_flat_record_fills_the_schema():
    row = document_row(
        {
            "text": "hello world",
            "url": "HTTPS://News.BBC.co.uk/a/?utm_source=x",
            "id": 7,
            "date": "2024-02-01T10:00:00Z",
        },
        _fields(),
        "f.jsonl",
        "crawl-x",
        4,
    )
    assert row.get("drop_reason") is None
    assert row["text"] == "hello world"
    assert row["url"] == "HTTPS://News.BBC.co.uk/a/?utm_source=x"  # as given; the canonical form beside it
    assert row["url_norm"] == "https://news.bbc.co.uk/a"
    assert row["host"] == "bbc.co.uk"
    assert row["doc_id"] == stable_doc_id(7, None, "") != stable_doc_id(8, None, "")
    assert row["fetch_time"] == datetime(2024, 2, 1, 10, tzinfo=timezone.utc)
    assert (row["crawl"], row["warc_file"], row["warc_offset"]) == ("crawl-x", "f.jsonl", 4)


def test_nested_dotted_fields_and_id_from_url_and_text():
    """datatrove's JSONL: url and date under `metadata`; no id field, so the id hashes url + text."""
    fields = _fields(url_field="metadata.url", date_field="metadata.date")
    record = {
        "text": "some text",
        "id": None,
        "metadata": {"url": "http://a.example.org/x", "date": "2023-05-06"},
    }
    row = document_row(record, fields, "f", "c", 0)
    assert row["url"] == "http://a.example.org/x" and row["host"] == "example.org"
    assert row["fetch_time"] == datetime(2023, 5, 6, tzinfo=timezone.utc)
    assert row["doc_id"] == stable_doc_id(None, "http://a.example.org/x", "some text")
    other = document_row({**record, "text": "other text"}, fields, "f", "c", 1)
    assert other["doc_id"] != row["doc_id"]
    # a key holding the dots literally wins over the nested walk
    literal = document_row(
        {"text": "t", "metadata.url": "http://lit.example/", "metadata": {}}, fields, "f", "c", 2
    )
    assert literal["url"] == "http://lit.example/"


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"url": "http://x.example/"}, "import.missing_text"),
        ({"text": None}, "import.missing_text"),
        ({"text": 42}, "import.bad_type"),
        ({"text": "t", "url": 5}, "import.bad_type"),
        ({"text": "t", "id": {"a": 1}}, "import.bad_type"),
        ({"text": "t", "date": 1700000000}, "import.bad_type"),
        ({"text": "t", "date": "yesterday"}, "import.bad_date"),
        ({"text": "  \n "}, "import.empty_text"),
        ("not json {", "import.bad_json"),
    ],
)
def test_bad_record_gets_a_reason(record, reason):
    assert document_row(record, _fields(), "f", "c", 0)["drop_reason"] == reason


def _records(n: int, start: int = 0) -> list[dict]:
    return [
        {"id": f"r{i}", "text": _text(i), "metadata": {"url": f"https://site{i % 3}.example.com/p/{i}"}}
        for i in range(start, start + n)
    ]


def _write_jsonl(path: Path, lines: list[str]) -> Path:
    data = ("\n".join(lines) + "\n").encode()
    if path.name.endswith(".gz"):
        data = gzip.compress(data)
    elif path.name.endswith(".zst"):
        data = pa.Codec("zstd").compress(data, asbytes=True)
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("name", ["docs.jsonl", "docs.jsonl.gz", "docs.jsonl.zst"])
def test_jsonl_files_plain_and_compressed(tmp_path, name):
    lines = [json.dumps(r) for r in _records(5)]
    lines[2] = '{"id": "broken", "text": '  # a truncated line between good ones
    path = _write_jsonl(tmp_path / name, lines)
    rows = _rows(str(path), _fields(url_field="metadata.url"))
    assert [r["warc_offset"] for r in rows] == [0, 1, 2, 3, 4]
    assert [r["drop_reason"] for r in rows] == [None, None, "import.bad_json", None, None]
    assert rows[2]["text"] == lines[2]  # the raw line kept for inspection
    assert rows[3]["url"] == "https://site0.example.com/p/3" and rows[3]["text"] == _text(3)


def test_parquet_with_nested_struct_and_timestamps(tmp_path):
    """A FineWeb-style Parquet file: flat text/url/date columns; and one with a nested metadata struct."""
    flat = pa.table(
        {
            "text": [_text(0), _text(1)],
            "id": ["<urn:uuid:1>", "<urn:uuid:2>"],
            "url": ["https://a.example.com/", "https://b.example.com/"],
            "date": ["2013-05-18T05:48:59Z", "2013-05-18T06:00:00Z"],
            "language_score": [0.9, 0.8],  # columns the fields do not name are not read
        }
    )
    pq.write_table(flat, tmp_path / "fineweb.parquet")
    rows = _rows(str(tmp_path / "fineweb.parquet"), _fields())
    assert [r["drop_reason"] for r in rows] == [None, None]
    assert rows[0]["fetch_time"] == datetime(2013, 5, 18, 5, 48, 59, tzinfo=timezone.utc)
    assert rows[1]["doc_id"] == stable_doc_id("<urn:uuid:2>", None, "")
    nested = pa.table(
        {
            "content": [_text(2), None],
            "meta": [
                {"link": "https://c.example.com/", "when": datetime(2020, 1, 2)},
                {"link": "https://d.example.com/", "when": None},
            ],
        }
    )
    pq.write_table(nested, tmp_path / "nested.parquet")
    fields = _fields(text_field="content", url_field="meta.link", date_field="meta.when")
    rows = _rows(str(tmp_path / "nested.parquet"), fields)
    assert rows[0]["url"] == "https://c.example.com/" and rows[0]["fetch_time"] == datetime(
        2020, 1, 2, tzinfo=timezone.utc
    )
    assert rows[1]["drop_reason"] == "import.missing_text"


def test_unreadable_file_is_one_counted_row(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress(b'{"text": "a"}\n' * 50)[:40])  # truncated gzip stream
    rows = _rows(str(path), _fields())
    assert rows[-1]["drop_reason"] == "import.unreadable_file"
    assert rows[-1]["warc_offset"] == len(rows) - 1  # numbered after the records read before the cut
    assert all(r["drop_reason"] in (None, "import.unreadable_file") for r in rows)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    assert [r["drop_reason"] for r in _rows(str(tmp_path / "bad.parquet"), _fields())] == [
        "import.unreadable_file"
    ]


def test_cli_stages_and_field_flags():
    from jobs.__main__ import _overrides, _stages_of, parse_args

    args = parse_args(
        ["crawl-to-shards", "--from", "import", "--input", "x.jsonl", "--output", "o", "--until", "dedup"]
    )
    assert _stages_of(args) == ("import", "filter", "quality", "dedup")
    args = parse_args(["import", "--input", "x", "--output", "o", "--url-field", "metadata.url"])
    assert _stages_of(args) == ("import",)
    assert _overrides([], args) == {"import.url_field": "metadata.url"}
    assert load_config(overrides=_overrides([], args))["import"]["url_field"] == "metadata.url"
    assert _overrides(["run.seed=3"]) == {"run.seed": 3}  # without parsed flags: --set pairs only


def test_cli_missing_corpus_is_one_line(tmp_path, capsys):
    from jobs.__main__ import main

    with pytest.raises(SystemExit, match="import: input .* matches no file"):
        main(["import", "--input", str(tmp_path / "nothing*.jsonl"), "--output", str(tmp_path / "out")])


@pytest.mark.spark
def test_import_stage_resume_and_dedup_on_it(spark, tmp_path):
    """Spark: the stage writes docs/rejected/stats and a fingerprinted _SUCCESS; a rerun with the same
    files and config is skipped, a changed file reruns; dedup then runs on `docs/import` as its input."""
    from jobs.chain import run_stage
    from pipeline import layout

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    records = _records(8)
    records[5]["text"] = records[1]["text"]  # an exact copy for dedup to find
    lines = [json.dumps(r) for r in records] + ["garbage", json.dumps({"id": "no-text"})]
    _write_jsonl(corpus / "a.jsonl.gz", lines)
    pq.write_table(pa.Table.from_pylist(_records(3, start=20)), corpus / "b.parquet")
    (corpus / "notes.txt").write_text("not part of the corpus")
    cfg = load_config(overrides={"import.url_field": "metadata.url", "dedup.lines_enabled": False})
    out = str(tmp_path / "run")

    stats = run_stage(spark, cfg, "import", str(corpus), out)
    total = next(r for r in stats if r["rule"] == "_total")
    assert (total["docs_in"], total["docs_dropped"]) == (13, 2)
    dropped = {r["rule"]: r["docs_dropped"] for r in stats}
    assert dropped["bad_json"] == 1 and dropped["missing_text"] == 1
    assert layout.stage_done(out, "import")
    kept = pq.read_table(layout.docs_dir(out, "import"))
    assert kept.num_rows == 11 and kept.schema.equals(DOC_SCHEMA)
    assert sorted(pq.read_table(layout.rejected_dir(out, "import"))["drop_reason"].to_pylist()) == [
        "import.bad_json",
        "import.missing_text",
    ]
    assert layout.stats_path(out, "import").exists()

    assert run_stage(spark, cfg, "import", str(corpus), out) is None  # same files, same config: skipped
    marker = layout.success_path(out, "import").read_text()
    assert (
        run_stage(spark, load_config(overrides={"import.url_field": "url"}), "import", str(corpus), out)
        is not None
    )
    assert layout.success_path(out, "import").read_text() != marker  # config changed: reran
    assert pq.read_table(layout.docs_dir(out, "import"))["url"].null_count == 11  # no top-level url
    _write_jsonl(corpus / "a.jsonl.gz", lines[:4])
    os.utime(corpus / "a.jsonl.gz", (1, 1))
    rows = run_stage(spark, cfg, "import", str(corpus), out)
    assert rows is not None and rows[0]["docs_in"] == 7  # input changed: reran on the new file

    _write_jsonl(corpus / "a.jsonl.gz", lines)
    run_stage(spark, cfg, "import", str(corpus), out)
    dedup = run_stage(spark, cfg, "dedup", str(layout.docs_dir(out, "import")), out)
    assert dedup is not None and layout.stage_done(out, "dedup")
    rejected = pq.read_table(layout.rejected_dir(out, "dedup")).to_pylist()
    assert [r["drop_reason"] for r in rejected] == ["dedup.minhash"]
    assert rejected[0]["warc_offset"] in (1, 5)
