"""pipeline.io.commoncrawl against a loopback HTTP server: the listing, retries, and resume by Range."""

from __future__ import annotations

import gzip
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.io.commoncrawl import crawl_warc_urls, open_stream
from pipeline.io.warc import BadRecord, RawRecord, iter_records

CRAWL = "CC-MAIN-2099-01"
SEGMENTS = ["1700000000000.11", "1700000000000.22", "1700000000000.33"]


def _warc_bytes(n: int) -> bytes:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True)
    for i in range(n):
        http = StatusAndHeaders("200 OK", [("Content-Type", "text/html")], protocol="HTTP/1.1")
        body = io.BytesIO(b"<html><body><p>record %d</p>%s</body></html>" % (i, b"filler text " * 400))
        writer.write_record(
            writer.create_warc_record(f"http://example.com/{i}", "response", payload=body, http_headers=http)
        )
    return buf.getvalue()


class Server:
    """Serves `files` with Range support; `fail[path]` = statuses to answer first, `cut[path]` = byte
    count after which the first full transfer of that path is cut (connection closed)."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.fail: dict[str, list[int]] = {}
        self.cut: dict[str, int] = {}
        self.ignore_range = False
        self.range_start_shift: int | None = None  # misbehaving 206: Content-Range starts here instead
        self.requests: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                server.requests.append((self.path, rng))
                if server.fail.get(self.path):
                    code = server.fail[self.path].pop(0)
                    self.send_response(code)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = int(rng.split("=")[1].split("-")[0]) if rng and not server.ignore_range else 0
                if start and server.range_start_shift is not None:
                    start = max(0, start + server.range_start_shift)  # answers a range it was not asked for
                partial = bool(rng) and not server.ignore_range
                self.send_response(206 if partial else 200)
                if partial:
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                cut = server.cut.pop(self.path, None)
                if cut is not None:
                    self.wfile.write(data[start:cut])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def server():
    srv = Server()
    paths = [
        f"crawl-data/{CRAWL}/segments/{seg}/warc/{CRAWL}-{seg}-{i:05d}.warc.gz"
        for seg in SEGMENTS
        for i in range(3)
    ]
    # interleave one line of segment 0 at the end: "first N segments" is about segments, not lines
    listing = "\n".join(paths[1:] + paths[:1]) + "\n"
    srv.files[f"/crawl-data/{CRAWL}/warc.paths.gz"] = gzip.compress(listing.encode(), mtime=0)
    srv.paths = paths
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


def test_crawl_warc_urls_takes_first_segments(server):
    urls = crawl_warc_urls(CRAWL, 2, base_url=server.base, backoff_s=0.001)
    assert len(urls) == 6 and all(u.startswith(server.base + "/crawl-data/") for u in urls)
    assert {u.split("/segments/")[1].split("/")[0] for u in urls} == set(SEGMENTS[:2])
    assert urls[-1].endswith(server.paths[0])  # the late line of segment 0 is kept, in listing order
    assert len(crawl_warc_urls(CRAWL, None, base_url=server.base)) == 9
    one_each = crawl_warc_urls(CRAWL, 3, base_url=server.base, files_per_segment=1)
    assert [u.split("/segments/")[1].split("/")[0] for u in one_each] == SEGMENTS


def test_crawl_id_is_validated(server):
    with pytest.raises(ValueError):
        crawl_warc_urls("../etc", 1, base_url=server.base)


def test_dropped_connection_resumes_with_range(server, tmp_path):
    data = _warc_bytes(8)
    server.files["/x.warc.gz"] = data
    server.cut["/x.warc.gz"] = len(data) // 2 + 7  # cut inside a gzip member
    url = server.base + "/x.warc.gz"
    stream = open_stream(url, retries=3, backoff_s=0.001)
    assert b"".join(iter(lambda: stream.read(1000), b"")) == data
    assert stream.reconnects == 1
    assert server.requests[-1] == ("/x.warc.gz", f"bytes={len(data) // 2 + 7}-")

    server.cut["/x.warc.gz"] = len(data) // 3
    local = tmp_path / "x.warc.gz"
    local.write_bytes(data)
    over_http = list(iter_records(url, "cc"))
    assert [r.url for r in over_http] == [r.url for r in iter_records(str(local), "cc")]
    assert len(over_http) == 8 and all(isinstance(r, RawRecord) for r in over_http)


def test_server_ignoring_range_is_handled(server):
    data = _warc_bytes(3)
    server.files["/y.warc.gz"] = data
    server.cut["/y.warc.gz"] = 1000
    server.ignore_range = True
    stream = open_stream(server.base + "/y.warc.gz", backoff_s=0.001)
    assert stream.read() == data


def test_206_with_a_wrong_content_range_start_is_lined_up_or_refused(server):
    data = _warc_bytes(10)
    server.files["/z.warc.gz"] = data
    server.cut["/z.warc.gz"] = len(data) // 2
    server.range_start_shift = -len(data)  # "206, Content-Range: bytes 0-...": the whole file again
    stream = open_stream(server.base + "/z.warc.gz", retries=2, backoff_s=0.001)
    assert stream.read() == data  # nothing duplicated
    assert [r.url for r in iter_records(server.base + "/z.warc.gz", "cc")] == [
        r.url for r in iter_records_bytes(data)
    ]

    server.cut["/z.warc.gz"] = len(data) // 2
    server.range_start_shift = 100  # starts past the asked byte: 100 bytes would be lost
    stream = open_stream(server.base + "/z.warc.gz", retries=2, backoff_s=0.001)
    with pytest.raises(OSError, match="Content-Range starts at byte"):
        stream.read()


def iter_records_bytes(data: bytes):
    import tempfile

    with tempfile.NamedTemporaryFile(suffix=".warc.gz") as f:
        f.write(data)
        f.flush()
        return list(iter_records(f.name, "cc"))


def test_503_then_200(server):
    data = _warc_bytes(2)
    server.files["/z.warc.gz"] = data
    server.fail["/z.warc.gz"] = [503, 503, 429]
    stream = open_stream(server.base + "/z.warc.gz", retries=5, backoff_s=0.001)
    assert stream.read() == data
    assert len([r for r in server.requests if r[0] == "/z.warc.gz"]) == 4


def test_retries_exhausted_or_404_are_bad_records_not_exceptions(server, monkeypatch):
    import pipeline.io.commoncrawl as cc

    server.files["/w.warc.gz"] = _warc_bytes(1)
    server.fail["/w.warc.gz"] = [503] * 10
    monkeypatch.setattr(cc, "open_stream", lambda url: cc.ResumingHTTPStream(url, retries=2, backoff_s=0.001))
    out = list(iter_records(server.base + "/w.warc.gz", "cc"))
    assert len(out) == 1 and isinstance(out[0], BadRecord) and out[0].reason == "read_error"
    assert "503" in out[0].message
    out = list(iter_records(server.base + "/missing.warc.gz", "cc"))
    assert [r.reason for r in out] == ["read_error"] and "404" in out[0].message


def test_extract_job_streams_a_crawl_by_id_and_resumes_a_cut_transfer(server, spark, tmp_path):
    """`--input crawl:<id>/1/2` end to end on Spark: listing, two WARCs over HTTP, one cut mid-file."""
    import pyarrow.parquet as pq

    from jobs import extract
    from pipeline import layout
    from pipeline.config import load_config

    for path in server.paths:
        server.files["/" + path] = _warc_bytes(3)
    segment0 = ["/" + p for p in server.paths if SEGMENTS[0] in p]
    for path in segment0:  # every transfer of the segment is cut half-way once
        server.cut[path] = len(server.files[path]) // 2
    cfg = load_config(
        overrides={
            "extract.commoncrawl_base_url": server.base,
            "extract.url_prechecks": [],
            "extract.lang_keep": [],
            "extract.lang_min_score": 0.0,
        }
    )
    out = tmp_path / "run"
    extract.run(spark, cfg, [f"crawl:{CRAWL}/1/2"], str(out))

    kept = pq.read_table(
        layout.docs_dir(out, "extract"), columns=["doc_id", "warc_file", "crawl"]
    ).to_pylist()
    assert len(kept) == 6 and len({r["doc_id"] for r in kept}) == 6  # 2 WARCs x 3 records, no duplicates
    assert {r["crawl"] for r in kept} == {CRAWL}
    assert {r["warc_file"].split("/segments/")[1].split("/")[0] for r in kept} == {SEGMENTS[0]}
    assert sum(1 for path, rng in server.requests if path in segment0 and rng) == 2  # both resumed by Range
