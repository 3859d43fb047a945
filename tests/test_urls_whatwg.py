"""URLs are read as browsers read them (WHATWG), and non-http(s) URLs are rejected with a reason."""

from __future__ import annotations

from datetime import UTC, datetime

from pipeline.config import load_config
from pipeline.extract.stage import _Extractor
from pipeline.io.warc import RawRecord
from pipeline.urls import normalize_url, url_host


def test_backslash_is_a_path_separator_in_http_urls():
    # a browser fetches blocked.example here; the old parse said good.example and kept the page
    assert url_host("http://blocked.example\\@good.example/x") == "blocked.example"
    assert normalize_url("http://blocked.example\\@good.example/x").startswith("http://blocked.example/")
    assert normalize_url("HTTPS:\\\\a.com\\b\\c") == "https://a.com/b/c"
    assert normalize_url("  http://a.com/\tq \n") == "http://a.com/q"


def _record(url: str) -> RawRecord:
    return RawRecord(
        url=url,
        warc_file="f.warc.gz",
        warc_offset=0,
        fetch_time=datetime(2024, 1, 1, tzinfo=UTC),
        record_id=f"<urn:{url}>",
        http_status=200,
        content_type="text/html",
        charset="utf-8",
        payload=b"<html><body><p>"
        + b"Plenty of ordinary words in a paragraph. " * 20
        + b"</p></body></html>",
    )


def test_non_http_urls_are_rows_rejected_as_bad_url():
    extractor = _Extractor(load_config(overrides={"extract.url_prechecks": []}))
    for url in ("file:///etc/passwd", "ftp://a.com/x", "data:text/html,<p>hi</p>", "http://"):
        row = extractor.row(_record(url), "t")
        assert row["drop_reason"] == "extract.bad_url", url
        assert row["url"] == url  # kept as fetched, for the record
    assert extractor.row(_record("http://a.com/page"), "t")["drop_reason"] != "extract.bad_url"
