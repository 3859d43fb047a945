"""PII outside the kept text: URLs, the text of rows rejected before the PII stage, error messages.

The filter stage replaces PII in the text it keeps (pipeline/filters/pii.py). Other columns reach
`docs/`, `rejected/` and `report.html` too, so the same detectors and placeholders (`filter.pii`)
apply to them, in the extract stage where they are born:

- `url` and `url_norm`: each query value, path segment and the fragment is percent-decoded and
  scanned; one holding PII has it replaced by its placeholder (`?email=<EMAIL>&id=7`). The host is
  kept (it is a server's name or address, and the host, blocklist and dedup key). So `url` is the
  WARC-Target-URI as fetched except for PII-bearing values; `warc_file` + `warc_offset` remain the
  exact provenance of the record.
- The text of `extract.lang_filter` rows (kept so the language rule can be re-thresholded), redacted
  under the same per-document CPU budget as the filter stage (past it, the text is withheld).
- `error` messages (they may quote a header or a URL).

With `filter.pii.enabled: false` nothing is redacted anywhere (README, "What each output contains").
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote, quote_plus, unquote, unquote_plus, urlsplit, urlunsplit

from pipeline.extract.html import ExtractionTimeout, time_budget
from pipeline.filters.pii import DEFAULT_PLACEHOLDERS, MAYBE_PII, PiiSettings, find_pii, redact

_QUERY_PIECE = re.compile(r"([^&;=]*=)?([^&;]*)")  # "key=value" or a bare value, between & or ;


def redact_text(text: str, types: tuple[str, ...], placeholders: dict[str, str]) -> str:
    spans = find_pii(text, types)
    return redact(text, spans, placeholders) if spans else text


def _redact_value(raw: str, types: tuple[str, ...], placeholders: dict[str, str], plus: bool) -> str:
    """One URL component: scanned percent-decoded ("john%40example.com" is an address too)."""
    decoded = unquote_plus(raw) if plus else unquote(raw)
    spans = find_pii(decoded, types)
    if not spans:
        return raw
    if decoded == raw:
        return redact(raw, spans, placeholders)
    encode = quote_plus if plus else quote
    return encode(redact(decoded, spans, placeholders), safe="<>")  # re-encoded; placeholders readable


def redact_url(url: str | None, types: tuple[str, ...], placeholders: dict[str, str]) -> str | None:
    """The URL with each PII-bearing query value, path segment and fragment replaced (module docstring)."""
    if not url or (url.isascii() and "%" not in url and not MAYBE_PII.search(url)):
        return url  # no digit, "@" or "dot" anywhere: nothing any detector could find
    try:
        parts = urlsplit(url)
    except ValueError:  # not a URL we can take apart: scan it as text
        return redact_text(url, types, placeholders)
    # One scan of the whole tail first: the component separators (/ ? & ; = #) end every detector's
    # match, so a tail with no PII has no component with PII (most URLs stop here).
    tail = f"{parts.path}?{parts.query}#{parts.fragment}"
    if not find_pii(unquote(tail), types) and ("+" not in tail or not find_pii(unquote_plus(tail), types)):
        return url
    path = "/".join(_redact_value(seg, types, placeholders, plus=False) for seg in parts.path.split("/"))
    query = _QUERY_PIECE.sub(
        lambda m: (m.group(1) or "") + _redact_value(m.group(2), types, placeholders, plus=True), parts.query
    )
    fragment = _redact_value(parts.fragment, types, placeholders, plus=False)
    redacted = urlunsplit((parts.scheme, parts.netloc, path, query, fragment))
    return url if (path, query, fragment) == (parts.path, parts.query, parts.fragment) else redacted


class OutputRedactor:
    """`filter.pii`'s detectors and placeholders, for the columns the filter stage does not scan."""

    def __init__(self, cfg: dict[str, Any]):
        settings = PiiSettings.from_config(cfg)
        self.enabled = bool(settings.enabled)
        self.types = tuple(settings.types)
        self.placeholders = {**DEFAULT_PLACEHOLDERS, **settings.placeholders}
        self.timeout_s = float(settings.timeout_s or 0)

    def url(self, url: str | None) -> str | None:
        return redact_url(url, self.types, self.placeholders) if self.enabled else url

    def message(self, message: str | None) -> str | None:
        return redact_text(message, self.types, self.placeholders) if self.enabled and message else message

    def text(self, text: str | None) -> str | None:
        """The redacted text; None (withheld) when the scan passes the CPU budget."""
        if not self.enabled or not text:
            return text
        try:
            with time_budget(self.timeout_s):
                return redact_text(text, self.types, self.placeholders)
        except ExtractionTimeout:
            return None
