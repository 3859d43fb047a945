"""The extract stage composition: records in, one document-table row per record out."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest

from pipeline.config import load_config
from pipeline.extract import prechecks
from pipeline.extract.stage import EXTRACT_RULES, EXTRACT_SIGNALS, process_records, process_warc_file
from pipeline.io.warc import BadRecord, RawRecord, doc_id_for
from pipeline.schema import DOC_SCHEMA, with_signals

ENGLISH_PAGE = """<!doctype html><html><head><title>Tides</title></head><body>
<nav><a href="/">Home</a> <a href="/about">About</a></nav>
<article><h1>Why the sea has tides</h1>
<p>Tides are the regular rise and fall of the sea surface caused by the gravity of the moon and the sun.</p>
<p>Most coasts see two high tides and two low tides every day, about twelve hours and twenty-five minutes apart.</p>
<p>The largest tidal ranges on Earth occur in the Bay of Fundy in Canada, where the water rises sixteen metres.</p>
</article><footer>Contact us. Terms of use.</footer></body></html>"""

FRENCH_PAGE = """<html><body><article>
<p>Les marées sont la montée et la descente régulières du niveau de la mer, causées par la lune et le soleil.</p>
<p>La plupart des côtes connaissent deux marées hautes et deux marées basses chaque jour de l'année.</p>
</article></body></html>"""

FETCHED = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def config(**extract):
    return load_config(
        overrides={"extract.url_prechecks": [], **{f"extract.{k}": v for k, v in extract.items()}}
    )


def response(url="https://www.example.co.uk/a/", body=ENGLISH_PAGE, status=200, mime="text/html", **kw):
    payload = body.encode("utf-8") if isinstance(body, str) else body
    fields = dict(
        url=url,
        warc_file="test.warc.gz",
        warc_offset=kw.pop("offset", 0),
        fetch_time=FETCHED,
        record_id=kw.pop("record_id", f"<urn:uuid:{url}>"),
        http_status=status,
        content_type=mime,
        charset=kw.pop("charset", "utf-8"),
        payload=payload,
    )
    return RawRecord(**fields, **kw)


def rows(records, cfg=None, batch_rows=256):
    batches = list(process_records(records, cfg or config(), "CC-TEST", batch_rows))
    for batch in batches:
        assert batch.schema == with_signals(DOC_SCHEMA, EXTRACT_SIGNALS)
    return [row for batch in batches for row in batch.to_pylist()]


def test_kept_english_page_has_text_language_and_provenance():
    record = response(url="HTTP://News.Example.CO.UK:80/story/?utm_source=x&id=7#top", offset=1234)
    (row,) = rows([record])
    assert row["drop_reason"] is None
    # `url` is the WARC-Target-URI as fetched (the join key back to the crawl); `url_norm` is canonical
    assert row["url"] == "HTTP://News.Example.CO.UK:80/story/?utm_source=x&id=7#top"
    assert row["url_norm"] == "http://news.example.co.uk/story?id=7"
    assert row["host"] == "example.co.uk"
    assert row["doc_id"] == doc_id_for(record.record_id, record.url, FETCHED)
    assert (row["crawl"], row["warc_file"], row["warc_offset"], row["fetch_time"]) == (
        "CC-TEST",
        "test.warc.gz",
        1234,
        FETCHED,
    )
    assert "regular rise and fall of the sea" in row["text"] and "Terms of use" not in row["text"]
    assert row["lang"] == "en" and row["lang_score"] > 0.65
    assert row["html_bytes"] == len(ENGLISH_PAGE.encode()) and row["charset"] == "utf-8"
    assert row["http_status"] == 200 and row["extract_ms"] > 0 and row["error"] is None


def test_every_record_becomes_a_row_with_its_reason():
    records = [
        response(status=404),
        response(mime="image/png", body=b"\x89PNG\r\n\x1a\n"),
        response(body=b"", oversize=True),
        response(body=b"<html>\x00\x01\x02\x03 not text</html>"),
        response(body="<html><body><div></div></body></html>"),
        response(body=FRENCH_PAGE),
        BadRecord("test.warc.gz", 999, "bad_gzip", "Error -3 while decompressing data"),
        response(),
    ]
    out = rows(records)
    assert [r["drop_reason"] for r in out] == [
        "extract.not_response_200",
        "extract.not_html",
        "extract.oversize",
        "extract.binary_payload",
        "extract.empty_text",
        "extract.lang_filter",
        "extract.bad_gzip",
        None,
    ]
    assert all(r["drop_reason"] is None or r["drop_reason"].split(".", 1)[1] in EXTRACT_RULES for r in out)
    # cheap checks never reach the parser
    assert [r["extract_ms"] for r in out[:3]] == [None, None, None]
    # only extracted pages carry text; the language-filtered one keeps it for re-thresholding
    assert [r["text"] is not None for r in out] == [False, False, False, False, False, True, False, True]
    french = out[5]
    assert french["lang"] == "fr" and "marées" in french["text"]
    bad = out[6]
    assert bad["url"] is None and bad["warc_offset"] == 999 and "decompressing" in bad["error"]
    assert bad["doc_id"] and bad["crawl"] == "CC-TEST"


def test_language_keep_list_from_config():
    out = rows([response(body=FRENCH_PAGE), response()], config(lang_keep=["fr"]))
    assert [r["drop_reason"] for r in out] == [None, "extract.lang_filter"]
    out = rows([response(body=FRENCH_PAGE), response()], config(lang_keep=[]))
    assert [r["drop_reason"] for r in out] == [None, None]


def test_pathological_page_times_out_without_stalling():
    row = "<tr>" + "<td>cell</td>" * 20 + "</tr>"
    table = "<html><body><table>" + row * 3000 + "</table></body></html>"  # seconds of trafilatura work
    out = rows([response(body=table), response()], config(timeout_s=0.05))
    assert out[0]["drop_reason"] == "extract.timeout" and "exceeded" in out[0]["error"]
    assert out[0]["extract_ms"] < 2000  # wall time: the 0.05 s CPU budget, on a possibly busy machine
    assert out[1]["drop_reason"] is None


def test_missing_content_type_is_sniffed():
    out = rows([response(mime=""), response(mime="", body=b"GIF89a....")])
    assert [r["drop_reason"] for r in out] == [None, "extract.not_html"]


def test_plain_text_passes_through_and_charset_is_decoded():
    text = "Plain text documents need no extraction; they are language-identified as they are, with care."
    out = rows(
        [response(mime="text/plain", body=text), response(body=ENGLISH_PAGE.encode("cp1252"), charset=None)]
    )
    assert out[0]["text"] == text and out[0]["drop_reason"] is None
    assert out[1]["drop_reason"] is None


def test_batches_are_bounded():
    batches = list(
        process_records([response(record_id=str(i)) for i in range(5)], config(), "c", batch_rows=2)
    )
    assert [b.num_rows for b in batches] == [2, 2, 1]


def block_example_org(cfg):
    """A URL pre-check factory, registered by the test below."""
    return lambda url, host: host == "example.org"


def test_url_prechecks_run_before_parsing(monkeypatch):
    monkeypatch.setitem(prechecks.PRECHECKS, "filter.test_block", block_example_org)
    cfg = load_config(overrides={"extract.url_prechecks": []})
    cfg["extract"]["url_prechecks"] = ["filter.test_block"]
    out = rows([response(url="https://www.example.org/x"), response(url="https://example.com/y")], cfg)
    assert [r["drop_reason"] for r in out] == ["filter.test_block", None]
    assert out[0]["extract_ms"] is None and out[0]["text"] is None


def test_reads_a_real_warc_file(tmp_path):
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path = tmp_path / "mini.warc.gz"
    with open(path, "wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for url, status, mime, body in [
            ("https://example.com/tides", "200 OK", "text/html; charset=utf-8", ENGLISH_PAGE.encode()),
            ("https://example.com/logo.png", "200 OK", "image/png", b"\x89PNG\r\n\x1a\n"),
            ("https://example.com/gone", "404 Not Found", "text/html", b"<html>gone</html>"),
        ]:
            http = StatusAndHeaders(status, [("Content-Type", mime)], protocol="HTTP/1.1")
            writer.write_record(
                writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
            )
    out = [r for b in process_warc_file(str(path), config(), "CC-TEST") for r in b.to_pylist()]
    assert [r["drop_reason"] for r in out] == [None, "extract.not_html", "extract.not_response_200"]
    assert out[0]["warc_offset"] == 0 and out[1]["warc_offset"] > 0 and out[0]["lang"] == "en"


@pytest.mark.data
def test_every_shared_warc_sample_is_processed(shared_data):
    from pipeline.io.warc import list_inputs

    total, kept = 0, 0
    for path in list_inputs(str(shared_data / "warc_samples")):
        for batch in process_warc_file(path, config(), "samples"):
            total += batch.num_rows
            kept += batch.column("drop_reason").null_count
    assert total > 200 and kept > 20
