"""The document table (DESIGN.md section 4): the columns every stage reads and writes.

Stages add their own signal columns on top of these; `with_signals` builds the schema a stage
produces so engines (Spark's mapInArrow) can be told the output schema up front.
"""

from __future__ import annotations

import pyarrow as pa

DOC_FIELDS: tuple[pa.Field, ...] = (
    pa.field("doc_id", pa.string()),  # stable id: sha1 of WARC-Record-ID (or URL + fetch time)
    pa.field("url", pa.string()),  # WARC-Target-URI exactly as fetched: the join key back to the crawl
    # canonical URL (pipeline.urls.normalize_url; null when not http(s)): URL dedup and blocklists
    pa.field("url_norm", pa.string()),
    pa.field("host", pa.string()),  # registered domain of the URL, e.g. "bbc.co.uk"
    pa.field("crawl", pa.string()),  # crawl id, e.g. "CC-MAIN-2024-10", or the input name
    pa.field("warc_file", pa.string()),
    pa.field("warc_offset", pa.int64()),  # byte offset of the record in the (compressed) file
    pa.field("fetch_time", pa.timestamp("us", tz="UTC")),  # WARC-Date
    pa.field("text", pa.string()),
    pa.field("lang", pa.string()),
    pa.field("lang_score", pa.float32()),
    pa.field("quality_score", pa.float32()),
    pa.field("domain", pa.string()),
    pa.field("drop_reason", pa.string()),  # null = kept, else "<stage>.<rule>"
)
DOC_SCHEMA = pa.schema(list(DOC_FIELDS))
DOC_COLUMNS = tuple(f.name for f in DOC_FIELDS)


def with_signals(schema: pa.Schema, signals: tuple[pa.Field, ...] | list[pa.Field]) -> pa.Schema:
    """`schema` plus the stage's signal fields; a signal with an existing name replaces that column."""
    out = schema
    for field in signals:
        idx = out.get_field_index(field.name)
        out = out.set(idx, field) if idx >= 0 else out.append(field)
    return out


def set_column(batch: pa.RecordBatch, name: str, values, type_: pa.DataType | None = None) -> pa.RecordBatch:
    """Replace or append one column of a record batch."""
    arr = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values, type=type_)
    if type_ is not None and arr.type != type_:
        arr = arr.cast(type_)
    idx = batch.schema.get_field_index(name)
    if idx >= 0:
        return batch.set_column(idx, pa.field(name, arr.type), arr)
    return batch.append_column(pa.field(name, arr.type), arr)


def conform(batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
    """Reorder/cast `batch` to exactly `schema`; missing columns become nulls."""
    if batch.schema.equals(schema):  # already conformed (e.g. by the stage that made it)
        return batch
    cols = []
    for field in schema:
        idx = batch.schema.get_field_index(field.name)
        if idx < 0:
            cols.append(pa.nulls(batch.num_rows, type=field.type))
        else:
            col = batch.column(idx)
            cols.append(col if col.type == field.type else col.cast(field.type))
    return pa.RecordBatch.from_arrays(cols, schema=schema)


def empty_docs(n: int = 0) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.nulls(n, f.type) for f in DOC_FIELDS], schema=DOC_SCHEMA)
