"""The pages of the demo crawl (pipeline/demo_crawl.py): hosts, HTML with boilerplate, planted PII.

`build_page(kind, rng, serial)` returns a dict: url, kind, topic, lang, status, content_type,
content_header (the HTTP Content-Type value), body (bytes), words (the main text, for duplicates),
planted (PII strings by type). All randomness comes from `rng`.
"""

from __future__ import annotations

import html
import json
import random
import struct
import zlib

from pipeline import demo_text as T

# page style -> (host, URL path prefix, text topic). Hosts are chosen so the domain rules of
# configs/default.yaml (mix.domains.rules) map them: en.wikipedia.org -> reference, *.stackexchange.com
# -> qa, *.readthedocs.io -> code, a /threads/ URL -> forum, news.* or /news/ -> news, a host with
# "blog" -> blog, /products/ -> shop.
STYLES = {
    "news": ("news.example-times.com", "/politics/", "news"),
    "science": ("www.example-science-daily.com", "/news/", "science"),
    "sports": ("news.example-sportswire.com", "/football/", "sports"),
    "cooking": ("www.cookingblog-example.com", "/2023/05/", "cooking"),
    "travel": ("travelblog-example.net", "/2022/08/", "travel"),
    "docs": ("examplelib.readthedocs.io", "/en/latest/", "software"),
    "forum": ("community.hikersforum-example.org", "/threads/", "forum"),
    "qa": ("demo.stackexchange.com", "/questions/", "software"),
    "shop": ("shop.example-outfitters.com", "/products/", "shop"),
    "reference": ("en.wikipedia.org", "/wiki/", "reference"),
}
SYNDICATION_HOST = "www.example-aggregator.com"  # where exact and near duplicates are republished
# Hosts in the UT1 adult domain list (checked in datatrove_url_filter/domains.xz); only their names.
ADULT_HOSTS = ("pornhub.com", "xvideos.com", "redtube.com", "xhamster.com")
# Words from the LDNOOBW English list (ldnoobw/en.txt), used in a clinical art-history text.
NSFW_WORDS = ("nude", "nudity", "erotic")
# Real North-American area codes; 555-0100..0199 is the range reserved for fiction.
AREA_CODES = (212, 303, 312, 415, 503, 617, 702, 713, 805, 919)
FOREIGN_HOSTS = {
    "de": "www.beispiel-zeitung.de",
    "fr": "www.exemple-journal.fr",
    "es": "www.ejemplo-diario.es",
}


def build_page(
    kind: str,
    rng: random.Random,
    serial: int,
    copy_of: dict | None = None,
    words=None,
    same_url: bool = False,
) -> dict:
    """A page of `kind`; with `copy_of`, that article's text (or `words`) again (see _copy)."""
    if copy_of is not None:
        return _copy(copy_of, serial, words, same_url)
    builder = _BUILDERS.get(kind, _article)
    page = builder(rng, serial)
    page["kind"] = kind
    page.setdefault("status", 200)
    page.setdefault("content_type", "text/html")
    page.setdefault("content_header", "text/html; charset=utf-8")
    page.setdefault("lang", "en")
    page["serial"] = serial
    return page


# -- articles ---------------------------------------------------------------------------------------
def _article(rng: random.Random, serial: int, style: str | None = None, n_words: int | None = None) -> dict:
    style = style or rng.choice(sorted(STYLES))
    host, prefix, topic = STYLES[style]
    title = T.title(topic, rng)
    paras = T.paragraphs(topic, rng, n_words or rng.randint(280, 1200))
    url = f"https://{host}{prefix}{serial}-{_slug(title)}"
    if style == "reference":
        url = f"https://{host}/wiki/{title.replace(' ', '_')}_{serial}"
    page = {"url": url, "kind": "article", "topic": style, "title": title, "paras": paras, "host": host}
    page["words"] = " ".join(paras).split()
    page["body"] = _html(page).encode("utf-8")
    return page


def _copy(source: dict, serial: int, words: list[str] | None, same_url: bool) -> dict:
    """The source article's text (or `words`, an edited version) on the syndication host, or on
    the source's own URL (`same_url`: an earlier fetch of the same page)."""
    page = dict(source, serial=serial, planted=None)
    if words is not None:
        sizes = [len(p.split()) for p in source["paras"]]
        paras, at = [], 0
        for size in sizes:
            paras.append(" ".join(words[at : at + size]))
            at += size
        page.update(paras=paras, words=list(words))
    if not same_url:
        page["host"] = SYNDICATION_HOST
        page["url"] = f"https://{SYNDICATION_HOST}/story/{serial}-{_slug(source['title'])}"
    page["body"] = _html(page).encode("utf-8")
    return page


def near_duplicate_words(words: list[str], rng: random.Random, target: float) -> list[str]:
    """`words` with single words replaced, spread out, until the 5-gram Jaccard drops to `target`."""
    out = list(words)
    free = list(range(len(words)))
    rng.shuffle(free)
    edited: set[int] = set()
    for pos in free:
        if shingle_jaccard(words, out) <= target:
            break
        if any(abs(pos - e) < 5 for e in edited):
            continue
        out[pos] = rng.choice(["new", "old", "other", "small", "large", "second", "last", "main"])
        if out[pos] == words[pos]:
            out[pos] = "certain"
        edited.add(pos)
    return out


def shingle_jaccard(a: list[str], b: list[str], n: int = 5) -> float:
    sa = {tuple(a[i : i + n]) for i in range(len(a) - n + 1)}
    sb = {tuple(b[i : i + n]) for i in range(len(b) - n + 1)}
    return len(sa & sb) / max(1, len(sa | sb))


def _html(page: dict, extra_main: str = "", lang: str = "en", charset: str = "utf-8") -> str:
    """A full page: cookie banner, navigation, the article, related links and footer of its host."""
    host = page["host"]
    site = host.split(".")[-2].replace("-", " ").title()
    nav = "".join(
        f'<li><a href="/{s.lower()}">{s}</a></li>' for s in ("Home", "Latest", "Topics", "About", "Contact")
    )
    body = "".join(f"<p>{html.escape(p)}</p>\n" for p in page["paras"])
    related = "".join(f'<li><a href="/r/{i}">More stories from {site} {i}</a></li>' for i in range(1, 5))
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="{charset}">'
        f"<title>{html.escape(page['title'])} | {site}</title></head>\n<body>\n"
        f'<div class="cookie-banner"><p>This site uses cookies to improve your experience. '
        f"By continuing to browse {site} you agree to our cookie policy.</p></div>\n"
        f'<header><div class="logo">{site}</div><nav><ul>{nav}</ul></nav></header>\n'
        f"<main><article><h1>{html.escape(page['title'])}</h1>\n"
        f'<p class="byline">By {T.FIRST[len(host) % 15]} {T.LAST[len(site) % 13]} | Staff writer</p>\n'
        f"{body}{extra_main}</article>\n"
        f"<aside><h3>Related</h3><ul>{related}</ul><p>Subscribe to our newsletter for weekly updates.</p></aside>"
        f"</main>\n<footer><p>Copyright 2024 {site}. All rights reserved.</p>"
        f'<p><a href="/terms">Terms of use</a> | <a href="/privacy">Privacy policy</a></p></footer>\n'
        "</body></html>\n"
    )


# -- pages the filters should drop -------------------------------------------------------------------
def _spam(rng: random.Random, serial: int) -> dict:
    lines = []
    for _ in range(40):
        kw = list(T.SPAM_KEYWORDS)
        rng.shuffle(kw)
        lines.append(" ".join(kw[:6] + T.SPAM_KEYWORDS[:3]))
    page = _stub(rng, serial, "shop", "Cheap watches best price", lines)
    return page


def _short(rng: random.Random, serial: int) -> dict:
    return _stub(rng, serial, "travel", "Coming soon", ["Page under construction."])


def _lorem(rng: random.Random, serial: int) -> dict:
    return _stub(rng, serial, "cooking", "Lorem ipsum", [T.LOREM] * 3)


def _js_notice(rng: random.Random, serial: int) -> dict:
    page = _article(rng, serial, n_words=120)
    notice = (
        "<p>Please enable JavaScript to view the comments.</p>\n"
        "<p>This website requires JavaScript to work properly.</p>\n"
    )
    page["body"] = _html(page, extra_main=notice).encode("utf-8")
    return page


def _adult_url(rng: random.Random, serial: int) -> dict:
    page = _article(rng, serial, style="travel", n_words=200)
    page.update(host=ADULT_HOSTS[serial % len(ADULT_HOSTS)], topic="travel")
    page["url"] = f"https://www.{page['host']}/view/{serial}"
    page["body"] = _html(page).encode("utf-8")
    return page


def _adult_words(rng: random.Random, serial: int) -> dict:
    w1, w2, w3 = NSFW_WORDS
    text = [
        f"The museum's spring exhibition brings together {w1} figure studies from three centuries.",
        f"Curators explain how academies used the {w1} model to teach anatomy and proportion.",
        f"A second room covers the debate about {w2} in public sculpture during the nineteenth century.",
        f"Letters on display show that critics called some paintings {w3} and asked for them to be removed.",
        "The catalogue includes essays on restoration, lighting and the history of the collection.",
    ]
    return _stub(rng, serial, "reference", "Figure studies in the academy", [" ".join(text)])


def _stub(rng: random.Random, serial: int, style: str, title: str, paras: list[str]) -> dict:
    host, prefix, _topic = STYLES[style]
    page = {"url": f"https://{host}{prefix}{serial}-{_slug(title)}", "topic": style, "title": title}
    page.update(paras=paras, host=host, words=" ".join(paras).split())
    page["body"] = _html(page).encode("utf-8")
    return page


# -- PII -------------------------------------------------------------------------------------------
def _pii(rng: random.Random, serial: int) -> dict:
    page = _article(rng, serial, style=rng.choice(["news", "forum", "shop"]), n_words=250)
    first, last = rng.choice(T.FIRST).lower(), rng.choice(T.LAST).lower()
    planted = {
        "email": [f"{first}.{last}@{page['host'].split('.', 1)[1]}", f"support{serial}@example-mail.com"],
        "phone": [
            f"({rng.choice(AREA_CODES)}) 555-01{rng.randint(0, 99):02d}",
            f"+44 20 7946 0{rng.randint(0, 999):03d}",
        ],
        "ipv4": [_public_ipv4(rng)],
        "ipv6": [
            f"2a0{rng.randint(1, 9)}:{rng.randint(4096, 65535):x}:{rng.randint(1, 65535):x}::{rng.randint(1, 65535):x}"
        ],
        "credit_card": [_luhn_card(rng)],
        "ssn": [f"{rng.randint(100, 665)}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"],
        "iban": [_iban_de(rng)],
    }
    extra = (
        f"For questions write to {planted['email'][0]} or {planted['email'][1]}, "
        f"or call {planted['phone'][0]} or {planted['phone'][1]}. "
        f"The request came from {planted['ipv4'][0]} and later from {planted['ipv6'][0]}. "
        f"The refund went to card {planted['credit_card'][0]}, the form listed SSN {planted['ssn'][0]}, "
        f"and the transfer used IBAN {planted['iban'][0]}."
    )
    page["paras"] = page["paras"] + [extra]
    page["words"] = " ".join(page["paras"]).split()
    page.update(body=_html(page).encode("utf-8"), planted=planted)
    return page


def _public_ipv4(rng: random.Random) -> str:
    import ipaddress

    while True:
        addr = ipaddress.IPv4Address(rng.getrandbits(32))
        if addr.is_global and not addr.is_multicast and 0 < int(addr) % 256 < 255:
            return str(addr)


def _luhn_card(rng: random.Random) -> str:
    digits = [4] + [rng.randint(0, 9) for _ in range(14)]
    total = 0
    for i, d in enumerate(reversed(digits)):  # the check digit will sit right of these
        total += (d * 2 - 9 if d * 2 > 9 else d * 2) if i % 2 == 0 else d
    digits.append((10 - total % 10) % 10)
    s = "".join(map(str, digits))
    return " ".join(s[i : i + 4] for i in range(0, 16, 4))


def _iban_de(rng: random.Random) -> str:
    bban = "".join(str(rng.randint(0, 9)) for _ in range(18))
    check = 98 - int(bban + "131400") % 97  # "DE" -> 13 14, then "00" (ISO 13616 mod-97)
    iban = f"DE{check:02d}{bban}"
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))


# -- other languages, encodings, non-HTML ---------------------------------------------------------------
def _non_english(rng: random.Random, serial: int) -> dict:
    lang = ("de", "fr", "es")[serial % 3]
    sentences = list(T.FOREIGN[lang])
    rng.shuffle(sentences)
    host = FOREIGN_HOSTS[lang]
    page = {"url": f"https://{host}/artikel/{serial}", "title": sentences[0][:40], "host": host}
    page.update(paras=[" ".join(sentences[:4]), " ".join(sentences[4:])], lang=lang, topic="news")
    page["body"] = _html(page, lang=lang).encode("utf-8")
    return page


def _non_html(rng: random.Random, serial: int) -> dict:
    which = serial % 3
    host = "files.example-cityguide.com"
    if which == 0:
        body = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\n" + rng.randbytes(600) + b"\n%%EOF\n"
        ctype, ext = "application/pdf", "pdf"
    elif which == 1:
        raw = b"\x00\xff\x00\x00"  # one red pixel, filter byte 0
        ihdr = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
        body = b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", zlib.compress(raw[:4]))
        body += _png_chunk(b"IEND", b"")
        ctype, ext = "image/png", "png"
    else:
        body = json.dumps({"id": serial, "items": [rng.randint(0, 99) for _ in range(5)]}).encode()
        ctype, ext = "application/json", "json"
    return {
        "url": f"https://{host}/files/{serial}.{ext}",
        "body": body,
        "content_type": ctype,
        "content_header": ctype,
    }


def _png_chunk(tag: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))


def _status(code: int):
    def build(rng: random.Random, serial: int) -> dict:
        url = f"https://www.example-cityguide.com/old/{serial}"
        body = b"<html><body><h1>Not Found</h1><p>The page was not found.</p></body></html>"
        headers = []
        if code == 301:
            body = b"<html><body><p>Moved.</p></body></html>"
            headers = [("Location", f"https://www.example-cityguide.com/new/{serial}")]
        return {"url": url, "body": body, "status": code, "http_headers": headers}

    return build


def _binary_html(rng: random.Random, serial: int) -> dict:
    return {"url": f"https://www.example-cityguide.com/broken/{serial}", "body": rng.randbytes(3000)}


def _charset(declared: str, actual: str):
    def build(rng: random.Random, serial: int) -> dict:
        if actual == "shift_jis":
            page = {"url": f"https://www.example-cityguide.jp/nikki/{serial}", "title": "日記", "lang": "ja"}
            page.update(host="www.example-cityguide.jp", paras=[T.JAPANESE * 3])
        else:
            page = _article(rng, serial, style="travel", n_words=300)
            page["paras"][0] = (
                "“Café Zoë” serves crêpes and a soufflé – the owners’ pride. " + page["paras"][0]
            )
        page["body"] = _html(page, charset=declared, lang=page.get("lang", "en")).encode(actual)
        page["content_header"] = f"text/html; charset={declared}"
        return page

    return build


def _oversize(rng: random.Random, serial: int) -> dict:
    page = _article(rng, serial, n_words=300)
    filler = "<p>" + " ".join(page["paras"][:1]) + "</p>\n"
    repeats = 5_500_000 // len(filler) + 1
    page["body"] = _html(page, extra_main=filler * repeats).encode("utf-8")
    return page


def _slug(title: str) -> str:
    return "-".join(title.lower().split())[:60]


_BUILDERS = {
    "article": _article,
    "spam": _spam,
    "short": _short,
    "lorem": _lorem,
    "js_notice": _js_notice,
    "adult_url": _adult_url,
    "adult_words": _adult_words,
    "pii": _pii,
    "non_english": _non_english,
    "non_html": _non_html,
    "http_404": _status(404),
    "http_301": _status(301),
    "binary_html": _binary_html,
    "charset_cp1252": _charset("windows-1252", "cp1252"),
    "charset_sjis": _charset("Shift_JIS", "shift_jis"),
    "charset_wrong": _charset("utf-8", "cp1252"),
    "oversize": _oversize,
}
