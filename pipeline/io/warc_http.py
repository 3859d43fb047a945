"""HTTP inside WARC response records: the status line and headers, and the body's transfer and
content codings (chunked; gzip, deflate, br), decoded with a size cap so a compression bomb cannot
blow up memory.
"""

from __future__ import annotations

import zlib

import brotli


def parse_http_head(lines: list[bytes]) -> tuple[int | None, str, str | None, str, str]:
    """(status, mime, charset, Transfer-Encoding, Content-Encoding) of an HTTP response head.

    Raises ValueError when there is no HTTP status line (the record is not an HTTP response).
    """
    if not lines or not lines[0].startswith(b"HTTP/"):
        raise ValueError(f"no HTTP status line: {lines[0][:60] if lines else b''!r}")
    parts = lines[0].split(None, 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.decode("latin-1").partition(":")
        if sep:
            fields.setdefault(name.strip().lower(), value.strip())  # first occurrence wins
    mime, _, params = fields.get("content-type", "").partition(";")
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset" and value.strip(" \t\"'"):
            charset = value.strip(" \t\"'").lower()
    return (
        status,
        mime.strip().lower(),
        charset,
        fields.get("transfer-encoding", "").lower(),
        fields.get("content-encoding", "").lower(),
    )


def decode_body(body: bytes, transfer: str, encoding: str, cap: int) -> bytes | None:
    """The entity body: de-chunked and content-decoded; None when it decodes to more than `cap` bytes.

    Archives often keep a Content-Encoding header for a body the crawler already decoded (ClueWeb09,
    wget), so a body that is not in the declared coding is kept as it is. Only a body that carries
    the gzip magic and still fails to decompress raises zlib.error (a corrupt body).
    """
    if "chunked" in transfer:
        body = _dechunk(body)
    for coding in reversed([c.strip() for c in encoding.split(",") if c.strip()]):
        body = _decode_one(body, coding, cap)
        if len(body) > cap:
            return None
    return body


def _decode_one(body: bytes, coding: str, cap: int) -> bytes:
    # At most cap + 1 bytes of output: a compression bomb stops there and is reported as oversize.
    if coding in ("gzip", "x-gzip"):
        if body[:2] != b"\x1f\x8b":
            return body
        return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(body, cap + 1)
    try:
        if coding == "deflate":
            try:
                return zlib.decompressobj(zlib.MAX_WBITS).decompress(body, cap + 1)
            except zlib.error:  # many servers send raw deflate without the zlib header
                return zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, cap + 1)
        if coding == "br":
            return brotli.Decompressor().process(body, output_buffer_limit=cap + 1)
    except Exception:  # a wrong Content-Encoding header: keep the bytes we have
        return body
    return body


def _dechunk(body: bytes) -> bytes:
    """Undo HTTP/1.1 chunked transfer coding; a body that is not chunked after all is returned as is."""
    out = []
    pos = 0
    while pos < len(body):
        eol = body.find(b"\n", pos)
        if eol < 0:
            break
        try:
            size = int(body[pos:eol].split(b";")[0].strip(), 16)
        except ValueError:
            if not out:
                return body  # never was chunked (the crawler de-chunked and kept the header)
            break
        if size == 0:
            break
        start = eol + 1
        out.append(body[start : start + size])
        pos = start + size
        pos += 2 if body[pos : pos + 2] == b"\r\n" else 1 if body[pos : pos + 1] == b"\n" else 0
    return b"".join(out)
