"""The extract stage: one WARC file -> rows of the document table, with text and language.

This is the pure composition the Spark adapter (jobs/extract.py) calls once per WARC file:

    for batch in process_warc_file(path, cfg, crawl):   # pyarrow.RecordBatch, OUTPUT_SCHEMA
        ...

Every record becomes a row; nothing is dropped silently. Rules run cheapest first, so the HTML parser
only sees pages that passed every check that needs no parsing:

    bad WARC record -> HTTP status -> MIME type -> size cap -> URL pre-checks (registered by later
    stages, e.g. filter.url_blocklist) -> binary / charset -> trafilatura (time budget) -> empty text
    -> language id (batched, fastText lid.176) -> language keep rule

Extraction is a cascade (pipeline/extract/html.py): the fast trafilatura pass, then trafilatura's baseline
and its quality-first mode on pages where the passes so far kept little of the visible text, and a plain
text walk for pages nested too deep for trafilatura. `extract_pass` says which produced the text and
`extract_passes_run` how many ran; jobs/extract.py counts them in OUT/stats/extract_passes.parquet.

A rejected row carries `drop_reason` ("extract.<rule>", or the pre-check's own name), its signals and
`error` (the message, where there is one). Its `text` is null, except for `extract.lang_filter`, where
the extracted text is kept so a notebook can re-threshold the language rule without re-crawling.
PII never reaches the filter stage's scan from these rows, so it is replaced here, with the same
detectors (pipeline/filters/pii_outputs.py): in that text, in `url`/`url_norm` and in `error`. The
text of kept rows is scanned by the filter stage.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa

from pipeline.extract.charset import DecodeFailure, decode_html
from pipeline.extract.html import Cascade, ExtractionTimeout, extract_with_cascade, time_budget
from pipeline.extract.langid import identify, keep_language
from pipeline.extract.prechecks import PRECHECKS, UrlCheck, build_prechecks, first_blocked
from pipeline.faults import executor_kill_point
from pipeline.filters.pii_outputs import OutputRedactor
from pipeline.io import warc
from pipeline.schema import DOC_SCHEMA, conform, with_signals
from pipeline.urls import normalize_url, registered_domain, url_host

STAGE = "extract"

# The reasons pipeline.io.warc gives a BadRecord (input it could not read), in the order they can occur.
BAD_RECORD_REASONS = (
    "read_error",
    "bad_gzip",
    "malformed_header",
    "bad_content_length",
    "truncated_file",
    "not_http_response",
    "bad_http_header",
    "bad_content_encoding",
)
# Ordered document-level rules. The URL pre-checks keep their registered full names (their own stage
# prefix) and run right after the size cap. A reason missing here is still counted (pipeline.stats).
EXTRACT_RULES: tuple[str, ...] = (
    *BAD_RECORD_REASONS,
    "bad_url",
    "not_response_200",
    "not_html",
    "oversize",
    *PRECHECKS,
    "binary_payload",
    "charset_error",
    "timeout",
    "extraction_error",
    "empty_text",
    "lang_filter",
)

EXTRACT_SIGNALS: tuple[pa.Field, ...] = (
    pa.field("html_bytes", pa.int64()),  # payload size before extraction: the stats size column
    pa.field("http_status", pa.int32()),
    pa.field("content_type", pa.string()),  # lowercase MIME type from the HTTP header
    pa.field("charset", pa.string()),  # codec the payload was decoded with
    pa.field(
        "charset_replaced", pa.int32()
    ),  # invalid UTF-8 sequences decoded as U+FFFD (nearly-valid UTF-8)
    pa.field("payload_truncated", pa.bool_()),  # the crawler cut the body (WARC-Truncated)
    pa.field("extract_ms", pa.float32()),  # decode + trafilatura wall time
    pa.field("extract_pass", pa.string()),  # whose text was kept: first, baseline, quality_first or text_walk
    pa.field("extract_passes_run", pa.int8()),  # extraction passes the cascade ran (1: the first was enough)
    pa.field(
        "first_pass_kept_frac", pa.float32()
    ),  # first pass's share of the visible text: the cascade's signal
    pa.field(
        "deep_nesting", pa.bool_()
    ),  # nested deeper than trafilatura's parser can read (kept via huge_tree)
    pa.field("error", pa.string()),  # message for bad records, timeouts and extraction errors
)
OUTPUT_SCHEMA = with_signals(DOC_SCHEMA, EXTRACT_SIGNALS)

# Sniffed when the Content-Type header is missing: the payload starts like an HTML document.
_HTML_STARTS = (b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml", b"<!--")

_PRECHECK_CACHE: dict[str, list[tuple[str, UrlCheck]]] = {}


def process_warc_file(
    path: str, cfg: dict[str, Any], crawl: str, batch_rows: int | None = None
) -> Iterator[pa.RecordBatch]:
    """Rows of OUTPUT_SCHEMA for every record of one WARC file; `cfg` is the whole run config (None
    `batch_rows`: its `spark.arrow_batch_rows`)."""
    max_bytes = int(cfg["extract"]["max_html_bytes"])
    records = warc.iter_records(path, crawl, max_payload_bytes=max_bytes)
    for i, batch in enumerate(process_records(records, cfg, crawl, batch_rows)):
        yield batch
        if i == 0:
            executor_kill_point()  # armed by the tests only: one executor lost mid-task (pipeline/faults.py)


def process_records(
    records: Iterable[warc.RawRecord | warc.BadRecord],
    cfg: dict[str, Any],
    crawl: str,
    batch_rows: int | None = None,
) -> Iterator[pa.RecordBatch]:
    """The stage on already-read records (the unit tests feed records built in memory)."""
    batch_rows = batch_rows or int(cfg["spark"]["arrow_batch_rows"])
    extractor = _Extractor(cfg)
    pending: list[dict[str, Any]] = []
    for record in records:
        pending.append(extractor.row(record, crawl))
        if len(pending) >= batch_rows:
            yield extractor.finish(pending)
            pending = []
    if pending:
        yield extractor.finish(pending)


class _Extractor:
    """Per-file state: the config section, the trafilatura keywords and the URL pre-checks."""

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg["extract"]
        self.allowed_mime = tuple(m.lower() for m in self.cfg["allowed_mime"])
        self.timeout_s = float(self.cfg["timeout_s"])
        self.min_text_chars = int(self.cfg["min_text_chars"])
        self.cascade = Cascade.from_config(self.cfg)
        self.prechecks = _prechecks(cfg)
        self.redactor = OutputRedactor(cfg)

    def row(self, record: warc.RawRecord | warc.BadRecord, crawl: str) -> dict[str, Any]:
        if isinstance(record, warc.BadRecord):
            return {
                "doc_id": hashlib.sha1(f"{record.warc_file}@{record.warc_offset}".encode()).hexdigest(),
                "crawl": crawl,
                "warc_file": record.warc_file,
                "warc_offset": record.warc_offset,
                "drop_reason": f"{STAGE}.{record.reason}",
                "error": self.redactor.message(record.message),
                "html_bytes": 0,
            }
        # the canonical form decides blocklists, hosts and dedup; `url` stays as fetched
        canonical = normalize_url(record.url)
        url = canonical or record.url
        host = registered_domain(url_host(url))
        row: dict[str, Any] = {
            "doc_id": warc.doc_id_for(record.record_id, record.url, record.fetch_time),
            "url": record.url,
            "url_norm": canonical,
            "host": host,
            "crawl": crawl,
            "warc_file": record.warc_file,
            "warc_offset": record.warc_offset,
            "fetch_time": record.fetch_time,
            "html_bytes": len(record.payload),
            "http_status": record.http_status,
            "content_type": record.content_type,
            "payload_truncated": record.payload_truncated,
        }
        # not http(s) (file:, ftp:, data:, a broken URL): no web page, so no document (a row all the same)
        reason = f"{STAGE}.bad_url" if canonical is None else self._cheap_reason(record, url, host)
        if reason is None:
            reason = self._extract(record, url, row)
        row["drop_reason"] = reason
        # PII in a query value or path segment is replaced once the checks above read the URL as fetched
        row["url"], row["url_norm"] = self.redactor.url(record.url), self.redactor.url(canonical)
        row["error"] = self.redactor.message(row.get("error"))
        return row

    def _cheap_reason(self, record: warc.RawRecord, url: str, host: str | None) -> str | None:
        """The first failing rule that needs no HTML parsing, or None."""
        if record.http_status != 200:
            return f"{STAGE}.not_response_200"
        if not self._html_like(record):
            return f"{STAGE}.not_html"
        if record.oversize:
            return f"{STAGE}.oversize"
        return first_blocked(self.prechecks, url, host or "")

    def _html_like(self, record: warc.RawRecord) -> bool:
        if record.content_type:
            return record.content_type.startswith(self.allowed_mime)
        return record.payload[:256].lstrip().lower().startswith(_HTML_STARTS)

    def _extract(self, record: warc.RawRecord, url: str, row: dict[str, Any]) -> str | None:
        """Decode and extract into `row`; the drop reason on failure, else None."""
        started = time.perf_counter()
        reason = None
        try:
            with time_budget(self.timeout_s):
                html, row["charset"], row["charset_replaced"] = decode_html(record.payload, record.charset)
                if (record.content_type or "").startswith("text/plain"):
                    text = html  # already text: nothing to extract
                else:
                    extraction = extract_with_cascade(html, url, self.cascade)
                    text = extraction.text
                    row["extract_pass"] = extraction.extract_pass
                    row["extract_passes_run"] = extraction.passes_run
                    row["first_pass_kept_frac"] = extraction.kept_frac
                    row["deep_nesting"] = extraction.deep_nesting
        except DecodeFailure as exc:
            reason, row["error"] = "binary_payload" if exc.reason == "binary" else "charset_error", str(exc)
        except ExtractionTimeout as exc:
            reason, row["error"] = "timeout", str(exc)
        except Exception as exc:  # any parser failure is counted, never fatal
            reason, row["error"] = "extraction_error", f"{type(exc).__name__}: {exc}"[:500]
        else:
            text = text.strip()
            if len(text) < self.min_text_chars:
                reason = "empty_text"
            else:
                row["text"] = text
        row["extract_ms"] = (time.perf_counter() - started) * 1000.0
        return None if reason is None else f"{STAGE}.{reason}"

    def finish(self, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        """Language id for the extracted rows of a batch (one fastText call), then the keep rule."""
        todo = [row for row in rows if row.get("drop_reason") is None]
        keep, min_score = list(self.cfg["lang_keep"]), float(self.cfg["lang_min_score"])
        for row, (lang, score) in zip(todo, identify([row["text"] for row in todo])):
            row["lang"], row["lang_score"] = lang, score
            if not keep_language(lang, score, keep, min_score):
                row["drop_reason"] = f"{STAGE}.lang_filter"
                row["text"] = self.redactor.text(row["text"])  # rejected here: the PII stage never sees it
                if row["text"] is None:
                    row["error"] = "PII scan passed filter.pii.timeout_s: text withheld"
        batch = pa.RecordBatch.from_pylist(rows, schema=OUTPUT_SCHEMA)
        return conform(batch, OUTPUT_SCHEMA)


def _prechecks(cfg: dict[str, Any]) -> list[tuple[str, UrlCheck]]:
    """URL pre-checks built once per process and config (a blocklist loads once per executor)."""
    key = json.dumps(cfg, sort_keys=True, default=str)
    if key not in _PRECHECK_CACHE:
        _PRECHECK_CACHE[key] = build_prechecks(cfg)
    return _PRECHECK_CACHE[key]
