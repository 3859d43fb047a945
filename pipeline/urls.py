"""URL normalisation and registered domains, shared by the crawl reader, URL dedup and the
Wikipedia-reference join (all three must agree on what "the same URL" means).
"""

from __future__ import annotations

import functools
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

import tldextract

DEFAULT_PORTS = {"http": 80, "https": 443}
# Query parameters that identify a click, not a page (Google/Facebook/Microsoft/HubSpot/Mailchimp ...).
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "_hsenc",
        "_hsmi",
        "igshid",
        "yclid",
        "twclid",
        "ref_src",
        "spm",
        "_ga",
        "_gl",
    }
)
TRACKING_PREFIXES = ("utm_",)


@functools.lru_cache(maxsize=1)
def _extractor() -> tldextract.TLDExtract:
    # The public-suffix snapshot bundled in the wheel: no network access at run time.
    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


_TAB_NEWLINE = str.maketrans("", "", "\t\n\r")


def _as_browsers_read(url: str) -> str:
    """The URL as a WHATWG parser (every browser) reads it: surrounding spaces and control characters
    stripped, tabs and newlines removed, and in http(s) URLs a backslash is a "/" -- so
    `http://blocked.example\\@good.example/x` is the host blocked.example, not good.example."""
    url = url.strip("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x0b\x0c\x0e\x0f \t\n\r").translate(_TAB_NEWLINE)
    if url[:8].lower().startswith(("http://", "https://", "http:\\", "https:\\")):
        url = url.replace("\\", "/")
    return url


def normalize_url(url: str | None) -> str | None:
    """Canonical form of a URL; None when it cannot be parsed as http(s).

    Lowercase scheme and host, no default port, no fragment, no tracking parameters, query sorted,
    no trailing slash on the path (the root path stays "/"), percent-encoding normalised.
    """
    if not url:
        return None
    try:
        parts = urlsplit(_as_browsers_read(url))
        scheme = parts.scheme.lower()
        host = (parts.hostname or "").rstrip(".")
        port = parts.port
    except ValueError:
        return None
    if scheme not in DEFAULT_PORTS or not host:
        return None
    try:
        host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        host = host.lower()
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = quote(unquote(parts.path), safe="/%:@!$&'()*+,;=-._~") or "/"
    if len(path) > 1:
        path = path.rstrip("/") or "/"
    query_pairs = [
        (k, v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    ]
    query = urlencode(sorted(query_pairs))
    return urlunsplit((scheme, netloc, path, query, ""))


def url_host(url: str | None) -> str | None:
    """Full lowercase host name of a URL (no port), or None."""
    if not url:
        return None
    try:
        host = urlsplit(_as_browsers_read(url)).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


@functools.lru_cache(maxsize=65536)
def registered_domain(host: str | None) -> str | None:
    """The registrable domain ("news.bbc.co.uk" -> "bbc.co.uk"); IPs and unknown suffixes as-is."""
    if not host:
        return None
    ext = _extractor()(host)
    if ext.domain and ext.suffix:
        return f"{ext.domain}.{ext.suffix}"
    return host


def parent_domains(host: str) -> list[str]:
    """The host and every parent down to two labels: a.b.example.com -> [a.b.example.com, b.example.com, example.com]."""
    labels = host.lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(0, max(1, len(labels) - 1))]
