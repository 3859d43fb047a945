"""Streaming WARC (and ARC) reader: HTTP `response` records out, broken bytes counted, never raised.

`iter_records` yields a `RawRecord` per HTTP response and a `BadRecord` per piece of input it could
not read, in file order. It reads `.warc` and `.warc.gz` with one gzip member per record (Common
Crawl) or one gzip stream for the whole file (ClueWeb), WARC/1.x and WARC/0.18, and ARC v1/v2.

Only `response` records (and ARC captures) are HTML sources. request, metadata, warcinfo, resource,
revisit and conversion records are skipped silently: a WET file's `conversion` records hold text a
crawler extracted, not HTML, and WAT files hold only metadata, so both yield nothing.

Recovery, so one bad record never loses the good ones around it:
- a Content-Length that does not fit the record: in per-record gzip, a block that runs past its gzip
  member; otherwise a block with a `WARC/1.` line in it, or one not followed by blank lines and then
  the next record or the end of the file. The record is rejected (bad_content_length) and reading
  goes on at the next record header, so a record a lying length swallows is still read;
- a gzip member that fails to decompress: skip to the next gzip member header (`\\x1f\\x8b\\x08`)
  whose first bytes decompress to a record header, and go on from there;
- a malformed header (a bad Content-Length, a non-WARC line where a record should start): skip lines
  until the next record header line;
- a file that ends inside a record: the records before it are kept, the cut one is a BadRecord.

`warc_offset` is the byte offset at which a record starts in the file as stored: the offset of its
gzip member for per-record gzip (what the Common Crawl index calls `offset`), the plain file offset
for uncompressed files, and the offset in the decompressed stream for a record that starts inside a
gzip member (whole-file gzip), since such a record cannot be reached by seeking anyway.
"""

from __future__ import annotations

import hashlib
import os
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from pipeline.config import default
from pipeline.io.inputs import expand
from pipeline.io.warc_dates import parse_warc_date
from pipeline.io.warc_http import decode_body, parse_http_head
from pipeline.io.warc_stream import StreamError, WarcStream, open_input

MAX_HEADER_LINES = 1000  # more WARC header lines than this is garbage, not a header
MAX_LINE_BYTES = 65536
RECORD_END_PEEK = 64  # bytes looked at after a block for the record's end (blank lines, then WARC/)

_WARC_VERSION = re.compile(rb"^WARC/\d+\.\d+\r?\n?$")
_ARC_HEADER = re.compile(rb"^(https?|dns|ftp|filedesc):\S*( \S+)* -?\d+\r?\n?$")


@dataclass(slots=True)
class RawRecord:
    url: str  # WARC-Target-URI as written (angle brackets stripped)
    warc_file: str
    warc_offset: int
    fetch_time: datetime | None  # WARC-Date in UTC; None when unparseable
    record_id: str | None
    http_status: int | None
    content_type: str  # lowercase mime from the HTTP Content-Type, no parameters; "" if absent
    charset: str | None  # charset parameter of the HTTP Content-Type
    payload: bytes  # HTTP body, de-chunked and content-decoded; b"" when oversize
    payload_truncated: bool = False  # WARC-Truncated: the crawler cut the body
    oversize: bool = False  # body longer than max_payload_bytes: payload dropped unread
    crawl: str = ""


@dataclass(slots=True)
class BadRecord:
    warc_file: str
    warc_offset: int
    reason: (
        str  # bad_gzip, truncated_file, malformed_header, bad_content_length, not_http_response,
        # bad_http_header, bad_content_encoding, read_error
    )
    message: str
    crawl: str = ""


INPUT_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")


def list_inputs(spec: str | list[str]) -> list[str]:
    """The WARC/ARC inputs named by `spec`, sorted: files, folders, globs (local or on an object store,
    `s3://bucket/crawl/*.warc.gz`; pipeline/io/inputs.py) and http(s) URLs.

    A folder contributes every file below it ending in INPUT_SUFFIXES (so WET/WAT files and other
    debris are left out); a file named explicitly is taken whatever its name. A string that is not an
    existing path is split on commas. A name that matches nothing is an error: a typo in INPUT must
    not turn into an empty run.
    """
    items = [spec] if isinstance(spec, str) and os.path.exists(spec) else spec
    if isinstance(items, str):
        items = [part for part in items.split(",") if part.strip()]
    found: set[str] = set()
    for item in (str(i).strip() for i in items):
        if item.startswith(("http://", "https://")):
            found.add(item)
        else:
            found.update(expand(item, INPUT_SUFFIXES))
    return sorted(found)


def doc_id_for(record_id: str | None, url: str, fetch_time: datetime | None) -> str:
    """Stable document id: sha1 of the WARC-Record-ID, or of URL + fetch time when there is none."""
    key = record_id if record_id else f"{url} {fetch_time.isoformat() if fetch_time else ''}"
    return hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:24]


def iter_records(
    path: str, crawl: str = "", max_payload_bytes: int | None = None
) -> Iterator[RawRecord | BadRecord]:
    """Every HTTP response of one WARC/ARC file (local path or http(s) URL), then its bad records.

    Never raises: a file that cannot be opened or read is one BadRecord("read_error").
    """
    try:
        raw = open_input(path)
    except Exception as e:  # anything that stops us opening the file is a read error
        yield BadRecord(path, 0, "read_error", f"{type(e).__name__}: {e}", crawl)
        return
    try:
        if max_payload_bytes is None:
            max_payload_bytes = default("extract.max_html_bytes")
        yield from _Parser(WarcStream(raw), path, crawl, max_payload_bytes).records()
    finally:
        try:
            raw.close()
        except Exception:  # closing a broken stream must not raise
            pass


class _BadInput(Exception):
    """A record that cannot be read; the parser resyncs on the next record header line."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


class _Parser:
    def __init__(self, stream: WarcStream, path: str, crawl: str, max_payload_bytes: int):
        self.stream = stream
        self.path = path
        self.crawl = crawl
        self.max_payload = max_payload_bytes
        self.arc_version: int | None = None  # set when the file turns out to be an ARC file
        self.record_at_member = False  # the record being read began at a gzip member start

    def records(self) -> Iterator[RawRecord | BadRecord]:
        line, offset = None, 0
        while True:
            try:
                if line is None:
                    line, offset = self._next_nonblank_line()
                    if line is None:
                        return
                if _WARC_VERSION.match(line):
                    record = self._warc_record(offset)
                elif _ARC_HEADER.match(line):
                    self.arc_version = self.arc_version or 1
                    record = self._arc_record(line, offset)
                else:
                    raise _BadInput("malformed_header", f"expected a record header, got {line[:60]!r}")
                line = None
                if record is not None:
                    yield record
            except _BadInput as e:
                line, errors = None, []
                try:
                    line, next_offset = self._skip_to_header()
                except StreamError as se:
                    errors = list(self._after_stream_error(se, offset))
                reason = e.reason
                if reason == "bad_content_length" and line is None and not errors:
                    reason = "truncated_file"  # no record follows: the file really ends inside this one
                yield BadRecord(self.path, offset, reason, str(e), self.crawl)
                yield from errors
                if errors and not self.stream.exhausted:
                    continue  # the stream resynced at a later member
                if line is None:
                    return
                offset = next_offset
            except StreamError as e:
                line = None
                yield from self._after_stream_error(e, offset)
                if self.stream.exhausted:
                    return
            except Exception as e:  # last resort: a reader bug must not kill the job
                yield BadRecord(self.path, offset, "read_error", f"{type(e).__name__}: {e}", self.crawl)
                return

    def _after_stream_error(self, e: StreamError, offset: int) -> Iterator[BadRecord]:
        at = e.offset if e.offset is not None else offset
        # A gzip member cut short whose inflater ran on into the next member's bytes reaches the end
        # of the file "inside a member"; if a record-starting member follows, it was a bad member.
        if e.reason == "truncated_file" and self.stream.gzipped and self.stream.resync():
            yield BadRecord(self.path, at, "bad_gzip", f"gzip member cut short: {e}", self.crawl)
            return
        yield BadRecord(self.path, at, e.reason, str(e), self.crawl)
        if e.reason == "bad_gzip":
            self.stream.resync()
        else:  # truncated_file, read_error: nothing more can be read
            self.stream.close_input()

    # -- lines -------------------------------------------------------------------------------------
    def _next_nonblank_line(self) -> tuple[bytes | None, int]:
        while True:
            offset = self.stream.line_offset()
            self.record_at_member = self.stream.at_member_start()
            line = self.stream.readline(MAX_LINE_BYTES)
            if not line:
                return None, offset
            if line.strip(b"\r\n\t \x00"):
                return line, offset

    def _skip_to_header(self) -> tuple[bytes | None, int]:
        """Resync after a malformed record: the next line that starts a WARC or ARC record."""
        pattern = _ARC_HEADER if self.arc_version else _WARC_VERSION
        while True:
            offset = self.stream.line_offset()
            line = self.stream.readline(MAX_LINE_BYTES)
            if not line:
                return None, offset
            if pattern.match(line):
                return line, offset

    # -- WARC --------------------------------------------------------------------------------------
    def _warc_record(self, offset: int) -> RawRecord | BadRecord | None:
        headers = self._warc_headers()
        try:
            length = int(headers.get("content-length", ""))
        except ValueError:
            raise _BadInput("malformed_header", "missing or invalid Content-Length") from None
        if length < 0:
            raise _BadInput("malformed_header", f"negative Content-Length {length}")
        kind = headers.get("warc-type", "").lower()
        content_type = headers.get("content-type", "")
        self._check_length(length)
        # Per-record gzip (Common Crawl): the block must end inside the member the record began in.
        # Otherwise (plain files, whole-file gzip) it must not run into a record header line, and must
        # be followed by the record's end (_check_record_end).
        self.stream.fenced, self.stream.stopped_at_fence = self.record_at_member, False
        self.stream.header_fence = None if self.record_at_member else self.stream.position() + length
        try:
            record = self._warc_block(kind, content_type, headers, offset, length)
        finally:
            self.stream.fenced, self.stream.header_fence = False, None
        if not self.record_at_member:
            self._check_record_end()
        return record

    def _warc_block(self, kind: str, content_type: str, headers: dict, offset: int, length: int):
        if kind != "response":  # not an HTML source (see module docstring)
            self._skip_block(length)
            return None
        if not content_type.lower().startswith("application/http"):
            self._skip_block(length)  # a response record, so a row: counted, not dropped unseen
            return BadRecord(
                self.path, offset, "not_http_response", f"Content-Type {content_type[:60]!r}", self.crawl
            )
        return self._http_response(
            offset,
            length,
            url=headers.get("warc-target-uri", "").strip().strip("<>"),
            date=headers.get("warc-date"),
            record_id=headers.get("warc-record-id"),
            truncated=bool(headers.get("warc-truncated")),
        )

    def _check_record_end(self) -> None:
        """After a block: blank lines (the record's CRLF CRLF), then the next record or the end of the
        file. Anything else means the Content-Length ended the block early."""
        after = self.stream.peek(RECORD_END_PEEK)
        rest = after.lstrip(b"\r\n\t \x00")
        if rest and not rest.startswith(b"WARC/"):
            raise _BadInput(
                "bad_content_length",
                f"Content-Length ends the block before the record ends ({after[:24]!r} follows it)",
            )

    def _check_length(self, length: int) -> None:
        """A plain file's record cannot be longer than what is left of the file."""
        left = (
            None
            if self.stream.size is None or self.stream.gzipped
            else self.stream.size - self.stream.position()
        )
        if left is not None and length > left:
            raise _BadInput(
                "bad_content_length",
                f"Content-Length {length} runs past the end of the file ({left} bytes left)",
            )

    def _short_read(self, where: str) -> Exception:
        """The error for a block that ended early: a lying length if reading stopped at the record's
        own gzip member end (the next member starts a record), else a file cut short."""
        if self.stream.stopped_at_fence:
            return _BadInput(
                "bad_content_length", f"Content-Length runs past the gzip member of the record ({where})"
            )
        if self.stream.stopped_at_header:
            return _BadInput(
                "bad_content_length", f"Content-Length runs into the next record's header ({where})"
            )
        return StreamError("truncated_file", f"file ends inside {where}")

    def _warc_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        last = None
        for _ in range(MAX_HEADER_LINES):
            line = self.stream.readline(MAX_LINE_BYTES)
            if not line:
                raise StreamError("truncated_file", "file ends inside a WARC header")
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                return headers
            if text[0] in " \t" and last:  # folded continuation line
                headers[last] += " " + text.strip()
            elif ":" in text:
                name, _, value = text.partition(":")
                last = name.strip().lower()
                headers[last] = value.strip()
        raise _BadInput("malformed_header", f"no end of WARC header after {MAX_HEADER_LINES} lines")

    # -- ARC ---------------------------------------------------------------------------------------
    def _arc_record(self, line: bytes, offset: int) -> RawRecord | BadRecord | None:
        fields = line.decode("utf-8", "replace").split()
        length = int(fields[-1])
        if length < 0:
            raise _BadInput("malformed_header", f"negative ARC record length in {line[:80]!r}")
        if fields[0].startswith("filedesc:"):
            self._skip_block(length, first=True)
            return None
        # v1: URL IP DATE MIME LENGTH; v2 adds 5 fields. A URL with spaces takes the extra fields.
        n_after_url = 9 if self.arc_version == 2 else 4
        url = " ".join(fields[: max(1, len(fields) - n_after_url)])
        date = fields[-n_after_url + 1] if len(fields) > n_after_url else None
        if not url.startswith(("http:", "https:")):
            self._skip_block(length)
            return None
        return self._http_response(offset, length, url=url, date=date, record_id=None, truncated=False)

    def _skip_block(self, length: int, first: bool = False) -> None:
        if first:  # an ARC filedesc block: its second line carries the ARC version
            line = self.stream.readline(min(length, MAX_LINE_BYTES))
            self.arc_version = 2 if line.startswith(b"2") else 1
            length -= len(line)
        if self.stream.skip(length) < length:
            raise self._short_read("a record block")

    # -- HTTP --------------------------------------------------------------------------------------
    def _http_response(self, offset, length, url, date, record_id, truncated) -> RawRecord | BadRecord:
        head, head_bytes = self._read_http_head(length)
        try:
            status, content_type, charset, transfer, encoding = parse_http_head(head)
        except ValueError as e:
            self._skip_block(length - head_bytes)
            return BadRecord(self.path, offset, "bad_http_header", str(e), self.crawl)
        body_len = length - head_bytes
        record = RawRecord(
            url=url,
            warc_file=self.path,
            warc_offset=offset,
            fetch_time=parse_warc_date(date),
            record_id=record_id,
            http_status=status,
            content_type=content_type,
            charset=charset,
            payload=b"",
            payload_truncated=truncated,
            crawl=self.crawl,
        )
        if body_len > self.max_payload:  # never hold a 50 MB page in memory: skip it unread
            self._skip_block(body_len)
            record.oversize = True
            return record
        body = self.stream.read(body_len)
        if len(body) < body_len:
            raise self._short_read("an HTTP body")
        try:
            payload = decode_body(body, transfer, encoding, self.max_payload)
        except zlib.error as e:
            return BadRecord(self.path, offset, "bad_content_encoding", f"{encoding}: {e}", self.crawl)
        if payload is None:
            record.oversize = True
        else:
            record.payload = payload
        return record

    def _read_http_head(self, length: int) -> tuple[list[bytes], int]:
        """HTTP status and header lines of a response block (without the blank line), bytes used."""
        lines: list[bytes] = []
        used = 0
        while used < length:
            line = self.stream.readline(min(MAX_LINE_BYTES, length - used))
            if not line:
                raise self._short_read("an HTTP header")
            used += len(line)
            if not line.rstrip(b"\r\n"):
                break
            lines.append(line)
            if len(lines) > MAX_HEADER_LINES:
                break  # parse_http_head will still find the status line; the rest is body
        return lines, used
