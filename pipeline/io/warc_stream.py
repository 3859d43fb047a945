"""The byte layer under the WARC reader: a file's bytes, gunzipped member by member, with recovery.

A `.warc.gz` is a concatenation of gzip members: one per record (Common Crawl) or one for the whole
file (ClueWeb). `WarcStream` decompresses them one after another with zlib, remembers where each
member starts in the raw file (so a record gets the offset the Common Crawl index would give it),
and on a corrupt member can `resync()`: skip to the next gzip member header whose first bytes
decompress to a WARC/ARC record header. Uncompressed files pass through unchanged.

A record that did not begin at a gzip member start (plain files, whole-file gzip) has no member end to
stop a lying Content-Length at; for those the parser sets `header_fence` to where the block should end:
reading stops before a line inside it that starts with `WARC/1.` (a record header where the block
should go on), and `stopped_at_header` says it did.

Errors are raised as `StreamError(reason)`; the record layer (pipeline/io/warc.py) turns them into
counted BadRecords. Memory stays bounded: data is decompressed in 64 KiB steps and only the last
`RESYNC_WINDOW` raw bytes of the current member are kept for the resync scan.
"""

from __future__ import annotations

import os
import zlib
from typing import BinaryIO

import pyarrow as pa

CHUNK = 1 << 16
GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate (RFC 1952)
RESYNC_WINDOW = 1 << 20  # raw bytes of a bad member kept to look for the next member header in
REMOTE_READ_BYTES = 8 << 20  # bytes fetched per request from an object store (one ranged GET)
RECORD_STARTS = (b"WARC/", b"http:", b"https:", b"filedesc:", b"dns:")
HEADER_AT_LINE_START = b"\nWARC/1."  # what a block of a plain WARC record cannot contain


class StreamError(Exception):
    """bad_gzip (a member that does not decompress), truncated_file, read_error."""

    def __init__(self, reason: str, message: str, offset: int | None = None):
        super().__init__(message)
        self.reason = reason
        self.offset = offset


def open_input(path: str) -> BinaryIO:
    """A binary stream of a local path, an http(s) URL (resuming dropped connections) or an object-store
    URI (`s3://…`: streamed in ranged GETs of REMOTE_READ_BYTES, never downloaded whole first)."""
    if path.startswith(("http://", "https://")):
        from pipeline.io.commoncrawl import open_stream

        return open_stream(path)
    from pipeline import storage

    if storage.is_remote(path):
        return ObjectStream(*storage.fs_path(path))
    return open(path, "rb")


class ObjectStream:
    """An object read front to back: its size from the object's metadata (as a local file's from
    fstat), its bytes through a read-ahead buffer, so a 1 GB WARC costs ~128 requests, not one per
    64 KiB read. The store's client retries a failed request on its own."""

    def __init__(self, fs, key: str):
        self._file = fs.open_input_file(key)  # one HEAD: the size; no bytes fetched yet
        self.size = self._file.size()
        self._buffered = pa.BufferedInputStream(self._file, REMOTE_READ_BYTES)

    def read(self, n: int = -1) -> bytes:
        return self._buffered.read(None if n is None or n < 0 else n)

    def close(self) -> None:
        self._buffered.close()
        self._file.close()


class WarcStream:
    def __init__(self, raw: BinaryIO):
        self._raw = raw
        self._raw_eof = False
        self._pending = b""  # raw bytes read but not yet given to the decompressor
        self._pending_at = 0  # raw offset of _pending[0]
        self._fill_pending(2)
        self.gzipped = self._pending[:2] == b"\x1f\x8b"
        self._decomp = None  # zlib object of the current gzip member; None between members
        self._member_at = 0  # raw offset of the current gzip member
        self._window = bytearray()  # raw bytes of the current member already decompressed
        self._window_at = 0
        self._buf = b""  # decompressed bytes; _buf[_pos:] not yet consumed
        self._pos = 0
        self._out_at = 0  # decompressed offset of _buf[0]
        self._member_starts: dict[int, int] = {}  # decompressed offset -> raw offset of a member
        # Set by the parser while it reads a record that began at a gzip member start: reading stops
        # at the end of that member when the next member begins a record of its own, since a block
        # that runs into the next record has a lying Content-Length. `stopped_at_fence` says it did.
        self.fenced = False
        self.stopped_at_fence = False
        # Bytes already decompressed but held back from `_buf` while `header_fence` is on: they begin
        # with (or may begin, if the file goes on) a record header line.
        self._ahead = b""
        self._line_start = False  # does the next byte released from `_ahead` begin a line?
        self.stopped_at_header = False
        self._header_fence: int | None = None
        self.size = _size_of(raw)  # bytes in a local file or object; None for an HTTP stream

    # -- public reading API --------------------------------------------------------------------
    @property
    def exhausted(self) -> bool:
        return self._raw_eof and not self._pending and not self._ahead and self._pos >= len(self._buf)

    @property
    def header_fence(self) -> int | None:
        return self._header_fence

    @header_fence.setter
    def header_fence(self, block_end: int | None) -> None:
        """Set at the start of a record block (a line start) to the offset where the block should end:
        no bytes past a `WARC/1.` line that begins before it. None: no fence."""
        self._header_fence, self.stopped_at_header = block_end, False
        if block_end is not None:  # bytes already buffered are checked like new ones
            self._line_start = True
            self._hold_back(self._pos)

    def position(self) -> int:
        """Offset of the next byte in the decompressed data (the file offset for plain files)."""
        return self._out_at + self._pos

    def at_member_start(self) -> bool:
        """Does the next byte begin a gzip member (a per-record gzip record starts here)?"""
        return self.gzipped and self.position() in self._member_starts

    def line_offset(self) -> int:
        """File offset of the next byte to be read (see pipeline/io/warc.py on what offsets mean)."""
        if self._pos >= len(self._buf):
            self._more()  # the next byte may begin a new gzip member
        here = self._out_at + self._pos
        return self._member_starts.get(here, here) if self.gzipped else here

    def readline(self, limit: int) -> bytes:
        """One line including its newline, at most `limit` bytes; b"" at the end of the data."""
        while True:
            end = self._buf.find(b"\n", self._pos, self._pos + limit)
            if end >= 0:
                return self._take(end + 1 - self._pos)
            if len(self._buf) - self._pos >= limit or not self._more():
                return self._take(min(limit, len(self._buf) - self._pos))

    def read(self, n: int) -> bytes:
        """Exactly n bytes, fewer only at the end of the data."""
        parts = []
        while n > 0:  # drain the buffer before refilling it, so a big body is not copied over and over
            if self._pos >= len(self._buf) and not self._more():
                break
            part = self._take(min(n, len(self._buf) - self._pos))
            parts.append(part)
            n -= len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def peek(self, n: int) -> bytes:
        """The next n bytes (fewer at the end of the data), left unread."""
        while len(self._buf) - self._pos < n and self._more():
            pass
        return self._buf[self._pos : self._pos + n]

    def skip(self, n: int) -> int:
        """Discard n bytes without holding them all; returns how many were there."""
        done = 0
        while done < n:
            if self._pos >= len(self._buf) and not self._more():
                break
            step = min(n - done, len(self._buf) - self._pos)
            self._pos += step
            done += step
        return done

    def close_input(self) -> None:
        """Give up on the rest of the file (after an error nothing can be recovered from)."""
        self._raw_eof = True
        self._pending = b""
        self._out_at += len(self._buf) + len(self._ahead)
        self._buf, self._pos, self._ahead = b"", 0, b""

    def resync(self) -> bool:
        """After a bad gzip member: continue at the next member that starts a record. False at EOF."""
        if not self.gzipped:
            self.close_input()
            return False
        data = bytes(self._window) + self._pending
        base = self._window_at
        start = max(self._member_at + 1 - base, 0)
        self._out_at += len(self._buf) + len(self._ahead)
        self._buf, self._pos, self._decomp, self._ahead = b"", 0, None, b""
        try:
            while True:
                idx = data.find(GZIP_MAGIC, start)
                if idx < 0:
                    more = self._read_raw()
                    if not more:
                        self._pending, self._pending_at = b"", base + len(data)
                        return False
                    keep = data[-2:]  # a member header may straddle two reads
                    base += len(data) - len(keep)
                    data, start = keep + more, 0
                    continue
                while len(data) - idx < 512 and not self._raw_eof:  # enough bytes to test it
                    data += self._read_raw()
                if _starts_record(data[idx : idx + CHUNK]):
                    self._pending, self._pending_at = data[idx:], base + idx
                    return True
                start = idx + 1
        except StreamError:
            self.close_input()
            return False

    # -- internals -----------------------------------------------------------------------------
    def _take(self, n: int) -> bytes:
        out = self._buf[self._pos : self._pos + n]
        self._pos += n
        return out

    def _read_raw(self) -> bytes:
        if self._raw_eof:
            return b""
        try:
            data = self._raw.read(CHUNK)
        except Exception as e:  # network or disk failure after retries
            self._raw_eof = True
            raise StreamError("read_error", f"{type(e).__name__}: {e}") from e
        if not data:
            self._raw_eof = True
        return data

    def _fill_pending(self, n: int) -> None:
        while len(self._pending) < n and not self._raw_eof:
            self._pending += self._read_raw()

    def _more(self) -> bool:
        """Append decompressed bytes to the buffer; False when there are none left (or a header fence
        holds)."""
        if self._pos:  # drop what was consumed
            self._out_at += self._pos
            self._buf, self._pos = self._buf[self._pos :], 0
        if self._header_fence is None:
            if self._ahead:
                self._buf, self._ahead = self._buf + self._ahead, b""
                return True
            return self._produce()
        while not self._ahead:  # the usual case: check new bytes where they land, in place
            if self.stopped_at_header:
                return False
            start = len(self._buf)
            if not self._produce():
                return False
            self._hold_back(start)
            if len(self._buf) > start:
                return True
        # bytes held back earlier: release what the fence allows, or read on to decide
        ahead_at = self._out_at + len(self._buf)
        cut, self.stopped_at_header = _fence_cut(
            self._ahead, 0, self._line_start, self._header_fence - ahead_at
        )
        if cut:
            self._line_start = self._ahead[cut - 1 : cut] == b"\n"
            self._buf, self._ahead = self._buf + self._ahead[:cut], self._ahead[cut:]
            return True
        if self.stopped_at_header:
            return False
        start = len(self._buf)
        if not self._produce():  # the end of the data: the held bytes cannot become a header line
            self._buf, self._ahead = self._buf + self._ahead, b""
            return len(self._buf) > start
        self._ahead += self._buf[start:]  # the new bytes follow the held ones
        self._buf = self._buf[:start]
        return self._more()

    def _hold_back(self, start: int) -> None:
        """Under the header fence: keep `_buf[start:]` from a `WARC/1.` line on (or a tail that may
        begin one) out of reach, in `_ahead`."""
        end = self._header_fence - self._out_at
        cut, self.stopped_at_header = _fence_cut(self._buf, start, self._line_start, end)
        if cut < len(self._buf):
            self._buf, self._ahead = self._buf[:cut], self._buf[cut:] + self._ahead
        if cut > start:
            self._line_start = self._buf[cut - 1 : cut] == b"\n"

    def _produce(self) -> bool:
        """Append the file's next bytes (decompressed) to the buffer; False when there are none left."""
        if not self.gzipped:
            data = self._pending or self._read_raw()
            self._pending = b""
            self._buf += data
            return bool(data)
        while True:
            if not self._pending:
                self._pending = self._read_raw()
            if self._decomp is None and self._fence_holds():
                self.stopped_at_fence = True
                return False
            if self._decomp is None and not self._start_member():
                return False
            if not self._pending:
                raise StreamError("truncated_file", "file ends inside a gzip member")
            try:
                out = self._decomp.decompress(self._pending, CHUNK)
            except zlib.error as e:
                raise StreamError("bad_gzip", f"gzip member does not decompress: {e}", self._member_at) from e
            rest = self._decomp.unused_data if self._decomp.eof else self._decomp.unconsumed_tail
            used = len(self._pending) - len(rest)
            self._window += self._pending[:used]
            if len(self._window) > 2 * RESYNC_WINDOW:
                drop = len(self._window) - RESYNC_WINDOW
                del self._window[:drop]
                self._window_at += drop
            self._pending, self._pending_at = rest, self._pending_at + used
            if self._decomp.eof:
                self._decomp = None
            if out:
                self._buf += out
                return True

    def _fence_holds(self) -> bool:
        """At a member end while fenced: stop if the next member starts a record (or none follows)."""
        if not self.fenced:
            return False
        self._fill_pending(512)
        return not self._pending.strip(b"\x00\r\n\t ") or _starts_record(self._pending[:CHUNK])

    def _start_member(self) -> bool:
        """Begin the gzip member at the current raw position; False at a clean end of file."""
        self._fill_pending(len(GZIP_MAGIC))
        if not self._pending.startswith(GZIP_MAGIC):
            if not self._pending.strip(b"\x00\r\n\t "):  # padding at the end of a file
                self._fill_pending(CHUNK)
                if not self._pending.strip(b"\x00\r\n\t ") and self._raw_eof:
                    self._pending = b""
                    return False
            if not self._pending:
                return False
            # Not a member header here: treat it like a corrupt member so resync() looks further on.
            self._member_at = self._pending_at
            self._window, self._window_at = bytearray(), self._pending_at
            raise StreamError(
                "bad_gzip", "bytes between gzip members are not a gzip member", self._pending_at
            )
        self._decomp = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._member_at = self._pending_at
        self._window, self._window_at = bytearray(), self._pending_at
        here = self._out_at + len(self._buf) + len(self._ahead)  # `_ahead` comes before the new bytes
        self._member_starts = {k: v for k, v in self._member_starts.items() if k >= self._out_at + self._pos}
        self._member_starts[here] = self._pending_at
        return True


def _fence_cut(data: bytes, start: int, line_start: bool, end: int) -> tuple[int, bool]:
    """How far `data[start:]` may be read under a header fence whose block ends at `data[end]`, and
    whether a `WARC/1.` line beginning before `end` stops it there. `line_start`: `data[start]` begins
    a line. A tail that may be the beginning of such a line is not readable yet: the next bytes decide."""
    header = HEADER_AT_LINE_START[1:]
    if start >= end:  # past the block: the next record's header is expected here
        return len(data), False
    if line_start and data.startswith(header, start):
        return start, True
    # an occurrence counts if its `W` lies before `end`: it starts at most at end - 2
    at = data.find(HEADER_AT_LINE_START, start, end - 2 + len(HEADER_AT_LINE_START))
    if at >= 0:
        return at + 1, True  # up to and including the newline before the header
    if len(data) >= end - 2 + len(HEADER_AT_LINE_START):  # every occurrence that counts was visible
        return len(data), False
    for keep in range(min(len(HEADER_AT_LINE_START) - 1, len(data) - start), 0, -1):
        if HEADER_AT_LINE_START.startswith(data[len(data) - keep :]):
            return len(data) - keep, False
    if line_start and start < len(data) and header.startswith(data[start:]):
        return start, False
    return len(data), False


def _starts_record(raw: bytes) -> bool:
    """Does this gzip member decompress to something that begins a WARC or ARC record?"""
    try:
        head = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(raw, 64)
    except zlib.error:
        return False
    return head.lstrip(b"\r\n").startswith(RECORD_STARTS)


def _size_of(raw: BinaryIO) -> int | None:
    if isinstance(raw, ObjectStream):
        return raw.size
    try:
        return os.fstat(raw.fileno()).st_size
    except (AttributeError, OSError, ValueError):  # a network stream has no file size
        return None
