"""Writing small WARC files of HTML pages: for tests, benchmarks and examples (uses warcio)."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter


def write_html_warc(
    path: str | Path,
    pages: Iterable[tuple[str, str]],
    date: datetime = datetime(2024, 3, 1, tzinfo=timezone.utc),
) -> Path:
    """A per-record-gzip `.warc.gz` with one 200 text/html response per (url, html) pair."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i, (url, page) in enumerate(pages):
            body = page.encode("utf-8")
            http = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            warc_headers = {
                "WARC-Date": date.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "WARC-Record-ID": f"<urn:uuid:00000000-0000-0000-0000-{i:012d}>",
            }
            record = writer.create_warc_record(
                url, "response", payload=io.BytesIO(body), http_headers=http, warc_headers_dict=warc_headers
            )
            writer.write_record(record)
    return path


def article_html(title: str, paragraphs: list[str]) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    return (
        f"<html><head><title>{title}</title></head><body><nav><a href='/'>Home</a> | <a href='/about'>About</a>"
        f"</nav><article><h1>{title}</h1>{body}</article><footer>Copyright example</footer></body></html>"
    )
