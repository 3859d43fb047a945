"""Reading an existing corpus (JSONL, JSONL.gz/.zst, Parquet) as rows of the document table.

This is the pure half of the import stage (`jobs/import_docs.py` runs it on Spark, one task per run of
files, like extract). Each record of a file becomes one row of DOC_SCHEMA: its text, URL, id and date
taken from configurable fields (`import.*_field`; a dotted name such as `metadata.url` reaches into
nested objects, as in datatrove's JSONL), the rest filled as DESIGN.md section 4 says:

- `doc_id`: sha1 of the id field when the record has one, else of url + text (stable across reruns);
- `url_norm`, `host`: from the URL through `pipeline.urls`, like extract;
- `crawl`: the CC-MAIN-… id in the file's path, else `run.name`; `warc_file`: the file;
  `warc_offset`: the record's number in the file (0-based), so a row can be found again;
- `lang`, scores and `domain`: null, for the later stages to fill.

A record that cannot become a document is kept as a rejected row (its raw line in `text` when the line
is not JSON) with `drop_reason` `import.<rule>`: the stats count it under that rule, nothing crashes.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import storage
from pipeline.io.warc_stream import REMOTE_READ_BYTES
from pipeline.schema import DOC_SCHEMA, conform
from pipeline.settings import ImportSettings
from pipeline.urls import normalize_url, registered_domain, url_host

STAGE = "import"
# In the order they are checked; the stats count each rule's drops.
IMPORT_RULES: tuple[str, ...] = (
    "unreadable_file",  # the file cannot be opened or decoded at all (one row stands for the whole file)
    "bad_json",  # a JSONL line that is not a JSON object
    "missing_text",  # no text field, or it is null
    "bad_type",  # text, url, id or date of a type that cannot be what it names
    "empty_text",  # text with nothing but white space
    "bad_date",  # a date string that is not ISO 8601
)
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".json.zst", ".ndjson")
PARQUET_SUFFIXES = (".parquet",)
INPUT_SUFFIXES = JSONL_SUFFIXES + PARQUET_SUFFIXES
MISSING = object()


def parquet_columns(fields: ImportSettings, present: Iterable[str]) -> list[str]:
    """The columns of a Parquet file (with columns `present`) that the fields read: a field's own name
    when a column has it literally, else the top-level column a dotted name starts with."""
    names = set(present)
    wanted = {
        name if name in names else name.split(".")[0]
        for name in (fields.text_field, fields.url_field, fields.id_field, fields.date_field)
    }
    return sorted(wanted & names)


def field_value(record: dict, dotted: str) -> Any:
    """`record[dotted]` when that key exists literally, else the walk through nested objects along
    the dots (`metadata.url`); MISSING when any step is absent."""
    if dotted in record:
        return record[dotted]
    node: Any = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def stable_doc_id(record_id: Any, url: str | None, text: str) -> str:
    """sha1 (24 hex digits, as extract's ids) of the record's id, or of url + text when it has none."""
    key = f"id:{record_id}" if record_id is not None else f"url+text:{url or ''}\n{text}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def parse_date(value: Any) -> datetime | None:
    """A UTC timestamp from an ISO 8601 string or a datetime; ValueError/TypeError otherwise."""
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str):
        moment = datetime.fromisoformat(value.strip())
    else:
        raise TypeError(f"date of type {type(value).__name__}")
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def document_row(record: Any, fields: ImportSettings, source: str, crawl: str, number: int) -> dict:
    """One row of DOC_SCHEMA for one record (a dict), `drop_reason` set when it is not a document."""
    row: dict[str, Any] = {"crawl": crawl, "warc_file": source, "warc_offset": number}
    if not isinstance(record, dict):
        return {**row, "text": _raw(record), "drop_reason": f"{STAGE}.bad_json"}
    text = field_value(record, fields.text_field)
    url = field_value(record, fields.url_field)
    record_id = field_value(record, fields.id_field)
    date = field_value(record, fields.date_field)
    url = None if url is MISSING else url
    record_id = None if record_id is MISSING else record_id
    date = None if date is MISSING else date
    if text is MISSING or text is None:
        return {**row, "url": url if isinstance(url, str) else None, "drop_reason": f"{STAGE}.missing_text"}
    if (
        not isinstance(text, str)
        or not isinstance(url, (str, type(None)))
        or isinstance(record_id, (dict, list))
    ):
        return {**row, "text": _raw(text), "drop_reason": f"{STAGE}.bad_type"}
    row.update(text=text, url=url, url_norm=normalize_url(url), host=registered_domain(url_host(url)))
    row["doc_id"] = stable_doc_id(record_id, url, text)
    if not text.strip():
        return {**row, "drop_reason": f"{STAGE}.empty_text"}
    if date is not None:
        try:
            row["fetch_time"] = parse_date(date)
        except TypeError:
            return {**row, "drop_reason": f"{STAGE}.bad_type"}
        except ValueError:
            return {**row, "drop_reason": f"{STAGE}.bad_date"}
    return row


def _raw(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def read_documents(
    path: str, fields: ImportSettings, crawl: str, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Batches of DOC_SCHEMA for every record of one file (JSONL by default, Parquet by suffix)."""
    records = (
        _parquet_records(path, fields, batch_rows)
        if path.endswith(PARQUET_SUFFIXES)
        else _jsonl_records(path)
    )
    rows: list[dict] = []
    number = 0  # the next record's number: where an unreadable rest of the file starts
    try:
        for record in records:
            rows.append(document_row(record, fields, path, crawl, number))
            number += 1
            if len(rows) >= batch_rows:
                yield _batch(rows)
                rows = []
    except (OSError, ValueError, pa.ArrowException) as exc:  # a truncated .gz, a corrupt Parquet footer
        rows.append(
            {
                "crawl": crawl,
                "warc_file": path,
                "warc_offset": number,
                "text": f"{type(exc).__name__}: {exc}",
                "drop_reason": f"{STAGE}.unreadable_file",
            }
        )
    if rows:
        yield _batch(rows)


def _batch(rows: list[dict]) -> pa.RecordBatch:
    return conform(pa.RecordBatch.from_pylist(rows, schema=DOC_SCHEMA), DOC_SCHEMA)


def _jsonl_records(path: str) -> Iterator[Any]:
    """Each non-blank line of a JSONL file (plain, .gz or .zst: pyarrow detects by suffix; local or on an
    object store, streamed) as a dict, or the raw line when it is not a JSON object."""
    fs, where = storage.fs_path(path)
    with fs.open_input_stream(where, compression="detect", buffer_size=REMOTE_READ_BYTES) as stream:
        for line in io.TextIOWrapper(stream, encoding="utf-8", errors="replace"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            yield record if isinstance(record, dict) else line.rstrip("\n")


def _parquet_records(path: str, fields: ImportSettings, batch_rows: int) -> Iterable[dict]:
    """Each row of a Parquet file as a dict of the columns the fields need (nested structs as dicts)."""
    fs, where = storage.fs_path(path)
    handle = pq.ParquetFile(where, filesystem=fs)
    for batch in handle.iter_batches(
        batch_size=batch_rows, columns=parquet_columns(fields, handle.schema_arrow.names)
    ):
        yield from batch.to_pylist()
