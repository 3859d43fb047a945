"""A small, deterministic demo crawl that exercises every stage of the pipeline.

`generate_demo_crawl(out_dir, seed, n_pages)` writes three WARC files and `demo_manifest.json`:

    demo-00000.warc.gz   per-record gzip (one gzip member per record, as Common Crawl ships them)
    demo-00001.warc.gz   per-record gzip, plus two broken records: a truncated gzip member
                         (reader reason bad_gzip) and a record without Content-Length (malformed_header)
    demo-00002.warc.gz   whole-file gzip (one gzip stream, as ClueWeb ships them)

Every response carries its kind in an `X-Demo-Kind` HTTP header, and the manifest lists every
record: url, kind, file, offset, record id, fetch time, status, content type, language, the PII
strings planted in it (`planted`), and for duplicates the url it copies (`dup_of`) with the 5-gram
shingle Jaccard similarity of the two main texts. Kinds (see `KIND_SHARES` for how many of each):

    article      good English pages (>= 60 %): news, science, sports, cooking, travel, software docs,
                 forum threads, Q&A, shop product pages, encyclopedia pages, with per-host boilerplate
    spam, short, lorem, js_notice           pages the heuristic filters should drop
    adult_url    benign text on hosts listed in the UT1 adult list (URL blocklist)
    adult_words  a clinical art-history text using words from the LDNOOBW English list
    pii          articles carrying emails, phones, public IPs, Luhn-valid cards, SSNs, valid IBANs
    exact_dup    an article's text again on another URL;  near_dup: a few words edited (Jaccard ~0.85)
    url_dup      an older fetch of an article's URL (URL dedup keeps the newest)
    non_english  German, French, Spanish pages
    non_html     application/pdf, image/png, application/json;   http_404, http_301
    binary_html  random bytes labelled text/html
    charset_cp1252, charset_sjis (declared, matching bytes), charset_wrong (declared utf-8, cp1252 bytes)
    oversize     a 5.5 MB page (over the default 5 MB cap; it compresses to a few kB)
    malformed    the two broken records above (no RawRecord; the reader yields BadRecords)

Same seed, same bytes: dates and record ids derive from the seed, gzip headers carry mtime 0.
"""

from __future__ import annotations

import gzip
import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from pipeline.demo_pages import build_page, near_duplicate_words, shingle_jaccard

BASE_TIME = datetime(2024, 2, 20, tzinfo=UTC)
# Share of n_pages per special kind (at least one each); the rest are good articles.
KIND_SHARES = {
    "spam": 0.02,
    "short": 0.013,
    "lorem": 0.01,
    "js_notice": 0.01,
    "adult_url": 0.013,
    "adult_words": 0.01,
    "pii": 0.027,
    "exact_dup": 0.02,
    "near_dup": 0.02,
    "url_dup": 0.013,
    "non_english": 0.03,
    "non_html": 0.01,
    "http_404": 0.007,
    "http_301": 0.007,
    "binary_html": 0.003,
    "charset_cp1252": 0.003,
    "charset_sjis": 0.003,
    "charset_wrong": 0.003,
    "oversize": 0.003,
}
FILES = ("demo-00000.warc.gz", "demo-00001.warc.gz", "demo-00002.warc.gz")
WHOLE_FILE_GZIP = "demo-00002.warc.gz"
BROKEN_FILE = "demo-00001.warc.gz"
MANIFEST = "demo_manifest.json"


def kind_counts(n_pages: int) -> dict[str, int]:
    counts = {kind: max(1, round(share * n_pages)) for kind, share in KIND_SHARES.items()}
    counts["article"] = n_pages - sum(counts.values())
    if counts["article"] < 0.6 * n_pages:
        raise ValueError(f"n_pages={n_pages} is too small for a demo crawl with every kind")
    return counts


def generate_demo_crawl(out_dir: Path, seed: int = 1234, n_pages: int = 300) -> list[Path]:
    """Write the demo WARC files and the manifest into out_dir; returns the WARC paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    pages = _plan_pages(rng, n_pages)
    rng.shuffle(pages)
    per_file: dict[str, list[dict]] = {name: [] for name in FILES}
    for i, page in enumerate(pages):
        per_file[FILES[i % len(FILES)]].append(page)
    manifest = {"seed": seed, "n_pages": n_pages, "files": list(FILES), "records": []}
    paths = []
    for name in FILES:
        data = _write_file(name, per_file[name], rng, manifest["records"])
        path = out_dir / name
        path.write_bytes(data)
        paths.append(path)
    good = sum(1 for r in manifest["records"] if r["kind"] != "malformed")
    manifest["expected_reader"] = {"good": good, "bad": {"bad_gzip": 1, "malformed_header": 1}}
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return paths


def _plan_pages(rng: random.Random, n_pages: int) -> list[dict]:
    """One dict per response record: everything needed to render it, and its manifest entry."""
    counts = kind_counts(n_pages)
    articles = [build_page("article", rng, i) for i in range(counts["article"])]
    pages = list(articles)
    serial = len(articles)
    for kind, count in counts.items():
        if kind == "article":
            continue
        for _ in range(count):
            source = rng.choice(articles[: max(1, len(articles) // 2)])
            pages.append(_special(kind, rng, serial, source))
            serial += 1
    return pages


def _special(kind: str, rng: random.Random, serial: int, source: dict) -> dict:
    if kind == "exact_dup":
        page = build_page("article", rng, serial, copy_of=source)
        page.update(kind=kind, dup_of=source["url"], jaccard=1.0)
    elif kind == "near_dup":
        words = near_duplicate_words(source["words"], rng, target=0.85)
        page = build_page("article", rng, serial, copy_of=source, words=words)
        page.update(
            kind=kind, dup_of=source["url"], jaccard=round(shingle_jaccard(source["words"], words), 4)
        )
    elif kind == "url_dup":  # an older fetch of the same URL, with an earlier version of the text
        words = near_duplicate_words(source["words"], rng, target=0.9)
        page = build_page("article", rng, serial, copy_of=source, words=words, same_url=True)
        page.update(kind=kind, dup_of=source["url"])
    else:
        page = build_page(kind, rng, serial)
    return page


def _write_file(name: str, pages: list[dict], rng: random.Random, manifest: list[dict]) -> bytes:
    records: list[bytes] = []
    members: list[bytes] = []
    offset = 0

    def add(record: bytes, entry: dict | None, raw_member: bytes | None = None) -> None:
        nonlocal offset
        member = raw_member if raw_member is not None else gzip.compress(record, mtime=0)
        if entry is not None:
            entry.update(file=name, offset=offset if name != WHOLE_FILE_GZIP else None)
            manifest.append(entry)
        records.append(record)
        members.append(member)
        offset += len(member)

    add(_warcinfo(name, rng), None)
    for i, page in enumerate(pages):
        fetch = _fetch_time(page, rng)
        record_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
        add(_response(page, fetch, record_id), _entry(page, fetch, record_id))
        if i % 10 == 0:  # some request records too: the reader must skip them
            add(_request(page["url"], fetch, rng), None)
        if name == BROKEN_FILE and i in (3, 7):
            add(*_broken_record(i, rng))
    if name == WHOLE_FILE_GZIP:
        return gzip.compress(b"".join(records), mtime=0)
    return b"".join(members)


def _fetch_time(page: dict, rng: random.Random) -> datetime:
    hours = rng.randint(0, 24 * 9)
    if page["kind"] == "url_dup":  # the older copy: fetched in an earlier crawl window
        return BASE_TIME - timedelta(days=40, hours=hours)
    return BASE_TIME + timedelta(hours=hours, seconds=rng.randint(0, 3599))


def _entry(page: dict, fetch: datetime, record_id: str) -> dict:
    keys = ("url", "kind", "topic", "lang", "status", "content_type", "planted", "dup_of", "jaccard")
    entry = {k: page[k] for k in keys if page.get(k) is not None}
    entry.update(record_id=record_id, fetch_time=fetch.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return entry


def _warc(headers: list[tuple[str, str]], block: bytes) -> bytes:
    head = "WARC/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers)
    return head.encode() + f"Content-Length: {len(block)}\r\n\r\n".encode() + block + b"\r\n\r\n"


def _stamp(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _warcinfo(name: str, rng: random.Random) -> bytes:
    body = b"software: webdata demo_crawl\r\nformat: WARC File Format 1.0\r\nisPartOf: DEMO\r\n"
    return _warc(
        [
            ("WARC-Type", "warcinfo"),
            ("WARC-Date", _stamp(BASE_TIME)),
            ("WARC-Filename", name),
            ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"),
            ("Content-Type", "application/warc-fields"),
        ],
        body,
    )


def _response(page: dict, fetch: datetime, record_id: str) -> bytes:
    status_line = {200: "200 OK", 301: "301 Moved Permanently", 404: "404 Not Found"}[page["status"]]
    headers = [f"HTTP/1.1 {status_line}", f"Content-Type: {page['content_header']}"]
    headers += [f"{k}: {v}" for k, v in page.get("http_headers", [])]
    headers += [f"Content-Length: {len(page['body'])}", f"X-Demo-Kind: {page['kind']}", "Connection: close"]
    block = ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + page["body"]
    return _warc(
        [
            ("WARC-Type", "response"),
            ("WARC-Target-URI", page["url"]),
            ("WARC-Date", _stamp(fetch)),
            ("WARC-Record-ID", record_id),
            ("Content-Type", "application/http; msgtype=response"),
        ],
        block,
    )


def _request(url: str, fetch: datetime, rng: random.Random) -> bytes:
    host = url.split("/")[2]
    path = "/" + url.split("/", 3)[3] if url.count("/") >= 3 else "/"
    block = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: demo-crawler/1.0\r\n\r\n".encode()
    return _warc(
        [
            ("WARC-Type", "request"),
            ("WARC-Target-URI", url),
            ("WARC-Date", _stamp(fetch)),
            ("WARC-Record-ID", f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"),
            ("Content-Type", "application/http; msgtype=request"),
        ],
        block,
    )


def _broken_record(i: int, rng: random.Random) -> tuple[bytes, dict, bytes]:
    """A response whose gzip member is cut in half (i == 3) or whose header lacks Content-Length."""
    url = f"https://broken.example-mirror.net/page-{i}"
    page = build_page("article", rng, 10_000 + i)
    page.update(url=url, kind="malformed")
    fetch = BASE_TIME + timedelta(hours=i)
    record_id = f"<urn:uuid:{uuid.UUID(int=rng.getrandbits(128), version=4)}>"
    record = _response(page, fetch, record_id)
    entry = _entry(page, fetch, record_id)
    if i == 3:
        member = gzip.compress(record, mtime=0)
        entry["reader_reason"] = "bad_gzip"
        return record, entry, member[: len(member) // 2]
    record = record.replace(b"Content-Length: ", b"Content-Size: ", 1)  # the WARC header's length
    entry["reader_reason"] = "malformed_header"
    return record, entry, gzip.compress(record, mtime=0)
