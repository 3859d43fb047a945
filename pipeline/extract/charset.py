"""Bytes -> str for HTML payloads: the charset a browser would pick, with robust fallbacks.

Order (after the WHATWG "encoding sniffing" algorithm, simplified):
  1. a byte-order mark (it overrides everything, as in browsers);
  2. the charset of the HTTP Content-Type header;
  3. a `<meta charset=...>` / `<meta http-equiv="Content-Type" content="...; charset=...">` in the
     first `META_SNIFF_BYTES` bytes;
  4. UTF-8, then charset_normalizer's detection (ties between code pages go to windows-1252, the
     WHATWG fallback for Western locales).
A declared charset that does not decode the bytes strictly is not trusted: we fall through to the next
candidate. Non-ASCII bytes that are valid UTF-8 are decoded as UTF-8 whatever the page declares: text in
a legacy code page practically never forms valid multi-byte UTF-8 sequences, while UTF-8 pages labelled
windows-1252 are common and would turn into mojibake ("cafÃ©"); trafilatura's own decoding does the same.

A page that declares UTF-8 (or declares nothing) whose bytes are *nearly* valid UTF-8 is decoded as
browsers decode declared UTF-8 (WHATWG): each invalid sequence becomes U+FFFD. "Nearly": the invalid
sequences are at most `MAX_INVALID_UTF8_SHARE` of the non-ASCII characters. The rule separates well
because a page in a legacy code page mislabelled UTF-8 forms almost no valid multi-byte sequence
(invalid share near 1), while a UTF-8 page with a stray byte or a body cut mid-character has many valid
ones; a stray byte must not turn the whole page into mojibake ("CafÃ© crÃ¨me") or a `charset_error`.
`Decoded.replaced` counts the replaced sequences (the extract stage's `charset_replaced` signal).
A legacy label that decodes the bytes is trusted over nearly-valid UTF-8. Payloads that look binary (magic numbers of common binary formats, NUL bytes, many control
characters) are refused with reason `binary` before any decoding; bytes that nothing decodes get
`charset_error`.
"""

from __future__ import annotations

import codecs
import itertools
import re
from collections.abc import Iterator
from typing import NamedTuple

import charset_normalizer

META_SNIFF_BYTES = 8192  # WHATWG prescans 1024 bytes; real pages put <meta> later, so look further
BINARY_SNIFF_BYTES = 4096
# Share of control bytes (other than \t \n \f \r and ESC, which ISO-2022 text uses) above which a
# payload is binary. Text in any ASCII-compatible charset has almost none.
MAX_CONTROL_FRACTION = 0.05
# Share of invalid sequences among the non-ASCII characters up to which declared UTF-8 is decoded with
# replacement characters: at most one invalid sequence per valid multi-byte character (module docstring).
MAX_INVALID_UTF8_SHARE = 0.5

BINARY_MAGIC = (
    b"%PDF-",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",  # JPEG
    b"PK\x03\x04",  # zip, docx, xlsx, jar
    b"\x1f\x8b",  # gzip (a body whose Content-Encoding was not undone)
    b"BZh",
    b"\x7fELF",
    b"RIFF",
    b"OggS",
    b"ID3",  # mp3
    b"\x00\x00\x01\x00",  # .ico
    b"wOFF",
    b"wOF2",
)
BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))

# Labels browsers decode as a superset encoding (WHATWG Encoding Standard, "labels" table): pages
# labelled latin-1 are in practice windows-1252, gb2312 is decoded as gb18030, and so on.
SUPERSET = {
    "ascii": "cp1252",
    "latin_1": "cp1252",
    "iso8859_1": "cp1252",
    "iso8859_9": "cp1254",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "big5": "big5hkscs",
    # A <meta> that says UTF-16 on a page we are reading as ASCII bytes cannot be right (WHATWG).
    "utf_16": "utf-8",
    "utf_16_le": "utf-8",
    "utf_16_be": "utf-8",
}

_META_CHARSET = re.compile(
    rb"<meta[^>]{0,200}?charset\s*=\s*[\"']?\s*([a-zA-Z0-9_.:\-]{1,40})", re.IGNORECASE
)
_CONTROL = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))


class Decoded(NamedTuple):
    text: str
    codec: str  # the Python codec that decoded the payload
    replaced: int = 0  # invalid UTF-8 sequences decoded as U+FFFD (nearly-valid declared UTF-8)


class DecodeFailure(Exception):
    """The payload cannot become text; `reason` is `binary` or `charset_error`."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason


def codec_name(label: str | None) -> str | None:
    """Python codec for a charset label ("UTF8", "x-sjis", "latin1" ...), None if unknown."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip().strip("\"'").lower()).name
    except (LookupError, ValueError):
        return None
    return SUPERSET.get(name.replace("-", "_"), name)


def looks_binary(payload: bytes) -> bool:
    head = payload[:BINARY_SNIFF_BYTES]
    if head.startswith(BINARY_MAGIC):
        return True
    if not head:
        return False
    if b"\x00" in head:
        return True
    controls = len(head) - len(head.translate(None, _CONTROL))
    return controls / len(head) > MAX_CONTROL_FRACTION


def sniff_meta_charset(payload: bytes) -> str | None:
    """Charset label declared by a <meta> tag near the top of the page, if any."""
    match = _META_CHARSET.search(payload[:META_SNIFF_BYTES])
    return match.group(1).decode("ascii") if match else None


def _declared(payload: bytes, header_charset: str | None) -> Iterator[str | None]:
    """The codecs of the HTTP header's label, then of the <meta>'s (sniffed only when asked for)."""
    yield codec_name(header_charset)
    yield codec_name(sniff_meta_charset(payload))


def nearly_utf8(payload: bytes) -> Decoded | None:
    """The payload decoded as UTF-8 with U+FFFD for each invalid sequence, if it is nearly valid."""
    text = payload.decode("utf-8", errors="replace")
    replaced = text.count("\ufffd") - payload.count("\ufffd".encode())  # a literal U+FFFD is no error
    non_ascii = len(text) - len(text.encode("ascii", errors="ignore"))
    if replaced <= MAX_INVALID_UTF8_SHARE * non_ascii:
        return Decoded(text, "utf-8", replaced)
    return None


def decode_html(payload: bytes, header_charset: str | None = None) -> Decoded:
    """(text, codec used, replaced sequences). Raises DecodeFailure for binary or undecodable payloads."""
    for bom, codec in BOMS:
        if payload.startswith(bom):
            try:
                return Decoded(payload[len(bom) :].decode(codec), codec)
            except UnicodeDecodeError:
                break  # a lying BOM: fall through to the ordinary candidates
    if looks_binary(payload):
        raise DecodeFailure("binary", f"payload looks binary (starts {payload[:8]!r})")
    tried: list[str] = []
    if not payload.isascii():  # valid multi-byte UTF-8 wins over any declared label (module docstring)
        try:
            return Decoded(payload.decode("utf-8"), "utf-8")
        except UnicodeDecodeError:
            tried.append("utf-8")
        if (
            next((c for c in _declared(payload, header_charset) if c), "utf-8") == "utf-8"
        ):  # declared UTF-8, or nothing declared
            nearly = nearly_utf8(payload)
            if nearly is not None:
                return nearly
    for codec in itertools.chain(_declared(payload, header_charset), ["utf-8"]):
        if codec is None or codec in tried:
            continue
        tried.append(codec)
        try:
            return Decoded(payload.decode(codec), codec)
        except UnicodeDecodeError:
            continue
    matches = charset_normalizer.from_bytes(payload)
    best = matches.best()
    if best is not None and best.encoding:
        # Single-byte code pages often tie (cp1250 and cp1252 agree on most letters): prefer windows-1252.
        tied = [m for m in matches if (m.chaos, m.coherence) == (best.chaos, best.coherence)]
        best = next((m for m in tied if m.encoding == "cp1252"), best)
        return Decoded(str(best), best.encoding)
    raise DecodeFailure("charset_error", f"no charset decodes the payload (tried {', '.join(tried)})")
