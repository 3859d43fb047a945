"""Read a Common Crawl crawl by id: its WARC listing, and WARC files streamed over HTTP(S).

A crawl (e.g. CC-MAIN-2024-10) publishes `crawl-data/<crawl>/warc.paths.gz`, one WARC path a line:

    crawl-data/CC-MAIN-2024-10/segments/1707947473347.0/warc/CC-MAIN-...-00000.warc.gz

A *segment* is the `segments/<id>/` directory: one slice of the crawl's fetch lists (a crawl has
about a hundred, each with several hundred WARC files of ~1 GB). `SEGMENTS=N` takes the WARC files
of the first N segments in listing order; `files_per_segment` caps how many of each are taken, for
a sample that still spans several segments.

The crawl is read from one of two sources (`extract.commoncrawl_source`): `https`, the default, through
data.commoncrawl.org (no account needed), or `s3`, the `s3://commoncrawl/` bucket itself through the
storage layer (AWS credentials needed; fastest from AWS us-east-1, where the bucket lives). Both list
the same `warc.paths.gz` and give the same files: full https URLs or `s3://commoncrawl/…` URIs, which
the WARC reader opens as it opens any other input (pipeline/io/warc_stream.py `open_input`).

`open_stream` streams one https file with retries. When a connection drops, it reconnects with an HTTP
Range request starting at the first byte not yet delivered, so the reader above it sees every byte
exactly once: no record is lost or read twice. Standard library only (urllib).
"""

from __future__ import annotations

import gzip
import io
import re
import time
import urllib.error
import urllib.request
from http.client import HTTPException

DEFAULT_BASE_URL = "https://data.commoncrawl.org"
SOURCES = ("https", "s3")  # what extract.commoncrawl_source may name
RETRY_STATUS = {408, 425, 429, 500, 502, 503, 504}  # worth asking again; other errors are final
USER_AGENT = "webdata-pipeline/0.1 (+https://commoncrawl.org/terms-of-use)"
_SEGMENT = re.compile(r"/segments/([^/]+)/")


def crawl_warc_urls(
    crawl_id: str,
    segments: int | None,
    base_url: str = DEFAULT_BASE_URL,
    files_per_segment: int | None = None,
    retries: int = 5,
    backoff_s: float = 1.0,
) -> list[str]:
    """Full URLs (or URIs, for a base on an object store: `s3://commoncrawl`) of the WARC files of the
    first `segments` segments of a crawl (None = all)."""
    if not re.fullmatch(r"[A-Za-z0-9._-]+", crawl_id):
        raise ValueError(f"crawl id {crawl_id!r} is not a crawl name like CC-MAIN-2024-10")
    base = base_url.rstrip("/")
    listing = gzip.decompress(
        _read_listing(f"{base}/crawl-data/{crawl_id}/warc.paths.gz", retries, backoff_s)
    )
    listing = listing.decode("utf-8")
    taken: dict[str, int] = {}  # segment id -> files taken, in listing order
    urls = []
    for path in listing.splitlines():
        path = path.strip()
        match = _SEGMENT.search(path)
        if not path or not match:
            continue
        seg = match.group(1)
        if seg not in taken:
            if segments is not None and len(taken) >= segments:
                continue  # later lines may still belong to an already chosen segment
            taken[seg] = 0
        if files_per_segment is not None and taken[seg] >= files_per_segment:
            continue
        taken[seg] += 1
        urls.append(f"{base}/{path.lstrip('/')}")
    return urls


def source_base(source: str, https_base: str, s3_base: str) -> str:
    """Where a crawl is read from, for `extract.commoncrawl_source` (ValueError for an unknown source)."""
    bases = dict(zip(SOURCES, (https_base, s3_base), strict=True))
    if source not in bases:
        raise ValueError(f"extract.commoncrawl_source must be one of {', '.join(SOURCES)}, got {source!r}")
    return bases[source]


def _read_listing(where: str, retries: int, backoff_s: float) -> bytes:
    if not where.startswith(("http://", "https://")):
        from pipeline import storage
        from pipeline.io.access import storage_error

        fs, key = storage.fs_path(where)
        try:
            with fs.open_input_stream(key, compression=None) as stream:  # the gzip bytes, as over https
                return stream.read()
        except FileNotFoundError:
            raise ValueError(f"{where} does not exist: is the crawl id right?") from None
        except (OSError, storage.StorageError) as exc:
            raise storage_error(where, exc) from exc
    with open_stream(where, retries, backoff_s) as raw:
        return raw.read()


CONTENT_RANGE = re.compile(r"bytes (\d+)-\d+/(\d+|\*)$")  # RFC 9110 §14.4


def open_stream(
    url: str, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60.0
) -> ResumingHTTPStream:
    """A binary file-like object over `url` that resumes with a Range request when the connection drops."""
    return ResumingHTTPStream(url, retries, backoff_s, timeout_s)


class ResumingHTTPStream(io.RawIOBase):
    """Sequential reads over HTTP(S); up to `retries` consecutive failures, exponential back-off.

    A failure is a connection error, a timeout, a retryable status (RETRY_STATUS) or a body that ends
    before its announced length. Any byte delivered resets the failure count. A server that ignores
    Range (answers 200 to a resumed request) is handled by discarding the bytes already delivered.
    """

    def __init__(self, url: str, retries: int = 5, backoff_s: float = 1.0, timeout_s: float = 60.0):
        super().__init__()
        self.url = url
        self.retries = retries
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.pos = 0  # bytes delivered to the caller
        self.total: int | None = None  # full length when the server told us
        self.reconnects = 0  # how many times a dropped transfer was resumed (for logs and tests)
        self._resp = None
        self._failures = 0
        self._connect()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(1 << 20), b""))
        while True:
            if self._resp is None:
                return b""
            try:
                data = self._resp.read(size)
            except (OSError, HTTPException) as e:
                self._fail(f"read failed at byte {self.pos}: {type(e).__name__}: {e}")
                continue
            if data:
                self.pos += len(data)
                self._failures = 0
                return data
            if self.total is not None and self.pos < self.total:  # the connection ended early
                self._fail(f"connection closed at byte {self.pos} of {self.total}")
                continue
            self._close_response()
            return b""

    def close(self) -> None:
        self._close_response()
        super().close()

    # -- internals ---------------------------------------------------------------------------------
    def _fail(self, why: str) -> None:
        self._close_response()
        self._failures += 1
        if self._failures > self.retries:
            raise OSError(f"{self.url}: giving up after {self.retries} retries: {why}")
        time.sleep(self.backoff_s * 2 ** (self._failures - 1))
        self.reconnects += 1
        self._connect()

    def _connect(self) -> None:
        """Open the URL from byte `pos`; retries connection errors and retryable statuses."""
        while True:
            headers = {"User-Agent": USER_AGENT}
            if self.pos:
                headers["Range"] = f"bytes={self.pos}-"
            try:
                resp = urllib.request.urlopen(
                    urllib.request.Request(self.url, headers=headers), timeout=self.timeout_s
                )
            except urllib.error.HTTPError as e:
                e.close()
                if e.code == 416 and self.total is not None and self.pos >= self.total:
                    self._resp = None  # nothing left to read
                    return
                if e.code not in RETRY_STATUS:
                    raise OSError(f"{self.url}: HTTP {e.code} {e.reason}") from e
                why = f"HTTP {e.code}"
            except (OSError, HTTPException) as e:
                why = f"{type(e).__name__}: {e}"
            else:
                refused = self._accept(resp)
                if refused is None:
                    self._resp = resp
                    return
                resp.close()
                why = refused
            self._failures += 1
            if self._failures > self.retries:
                raise OSError(f"{self.url}: giving up after {self.retries} retries: {why}")
            time.sleep(self.backoff_s * 2 ** (self._failures - 1))

    def _accept(self, resp) -> str | None:
        """Learn the total length and line the body up with byte `pos`: a 200 answer (the server
        ignored Range) or a 206 whose Content-Range starts before `pos` has its surplus skipped; a
        206 starting after `pos` would lose bytes and is refused (the reason is returned; retried)."""
        content_range = resp.headers.get("Content-Range", "")
        start = 0
        if resp.status == 206:
            match = CONTENT_RANGE.match(content_range.strip())
            if not match:
                return f"206 with an unreadable Content-Range {content_range[:60]!r}"
            start = int(match.group(1))
            if match.group(2).isdigit():
                self.total = int(match.group(2))
            if start > self.pos:
                return f"206 Content-Range starts at byte {start}, {self.pos} was asked for"
        else:
            length = resp.headers.get("Content-Length")
            if length and length.isdigit():
                self.total = int(length)
        to_skip = self.pos - start  # bytes already delivered that this answer repeats
        while to_skip > 0:
            chunk = resp.read(min(to_skip, 1 << 20))
            if not chunk:
                return f"body shorter than the {self.pos} bytes already read"
            to_skip -= len(chunk)
        return None

    def _close_response(self) -> None:
        if self._resp is not None:
            try:
                self._resp.close()
            except Exception:  # closing a dead connection must not raise
                pass
            self._resp = None
