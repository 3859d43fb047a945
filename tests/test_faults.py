"""Faults and bad input through the real extract job on Spark.

One Spark run reads a folder of broken inputs built here: corrupt and cut gzip members in the middle
of good files, a malformed WARC header, an HTML nesting bomb, a 50 MB page, a gzip-coded body that
inflates to 50 MB, binary bodies labelled text/html, pages whose declared charset lies, and (when
../shared/data is present) every file of warcio's test data, broken ones included. Every bad item
sits between good pages. For each case the test checks that the job finished, that the bad item is
counted under its reason in OUT/stats/extract.parquet, and that every good page around it was kept.
"""

from __future__ import annotations

import gzip
import io
import os
import random
import shutil
import tracemalloc
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import load_config
from pipeline.fixtures.warc_writer import article_html
from pipeline.io.warc import RawRecord, iter_records
from pipeline.urls import normalize_url

REPO = Path(__file__).resolve().parent.parent
WARCIO_DIR = (
    Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
    / "warc_samples"
    / "warcio-testdata"
)
HTML_UTF8 = [("Content-Type", "text/html; charset=utf-8")]
BIG_PAGE_BYTES = 50_000_000
NESTING_DEPTH = 100_000
BOMB_URL = "https://news.example.org/html_bomb/bomb"
BURIED = "The buried paragraph about the harbour bridge survives even a hundred thousand nested elements."

# warcio's test files (under warc_samples/warcio-testdata): HTTP responses read, and the reader's
# reasons for the broken ones (the same facts tests/test_warc.py checks at the reader level).
WARCIO_FILES = {
    "bad.arc": (0, {"malformed_header": 3, "bad_http_header": 1}),
    "example-bad-non-chunked.warc.gz": (1, {}),
    "example-bad.warc.gz.bad": (2, {}),
    "example-digest.warc": (0, {}),
    "example-iana.org-chunked.warc": (1, {}),
    "example-resource.warc.gz": (0, {}),
    "example-space-in-target-uri.warc.gz": (0, {}),
    "example-space-in-url.arc": (0, {"truncated_file": 1}),
    "example-trunc.warc": (1, {}),
    "example-wget-bad-target-uri.warc.gz": (1, {}),
    "example-wrong-chunks.warc.gz": (1, {}),
    "example.arc": (1, {}),
    "example.arc.gz": (1, {}),
    "example.warc": (1, {}),
    "example.warc.gz": (1, {}),
    "post-test.warc.gz": (3, {}),
}

TOPICS = [
    "The harbour town rebuilt its old stone bridge after the spring floods damaged the eastern arch.",
    "Volunteers counted more than two hundred species of birds along the river during the weekend survey.",
    "The library opened a new reading room with long tables, good lamps and shelves of local history.",
    "Farmers in the valley planted an early crop of potatoes because the winter had been unusually mild.",
    "Engineers tested the new tram line at night so that the morning commuters would not be disturbed.",
]


def good_page(case: str, where: str) -> tuple[str, bytes]:
    """A plain English article that every extract rule keeps, at a URL naming its case."""
    rng = random.Random(f"{case}/{where}")
    paragraphs = [
        rng.choice(TOPICS) + f" This note about {case} was filed {where} the broken record." for _ in range(4)
    ]
    return f"https://news.example.org/{case}/{where}", article_html(f"{case} {where}", paragraphs).encode()


def member(url: str, body: bytes, headers=HTML_UTF8, compress: bool = True) -> bytes:
    """One WARC response record (a gzip member when `compress`)."""
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=compress)
    http = StatusAndHeaders("200 OK", list(headers), protocol="HTTP/1.1")
    writer.write_record(
        writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http)
    )
    return buf.getvalue()


@dataclass
class Case:
    """One input file: good pages around bad items, and what the extract stage must make of them."""

    name: str
    path: Path
    good_urls: list[str]
    reasons: dict[str, int]  # drop_reason -> rows expected with it in this file
    bad_urls: dict[str, tuple[str, ...]] = field(default_factory=dict)  # url -> the reasons it may get


def around(case: str, *bad: bytes, compress: bool = True, after: bool = True) -> tuple[bytes, list[str]]:
    """Good page, the bad members, good page (a good page also between two bad ones)."""
    urls, parts = [], []
    for i, piece in enumerate(bad):
        url, page = good_page(case, f"before-{i}")
        parts += [member(url, page, compress=compress), piece]
        urls.append(url)
    if after:
        url, page = good_page(case, "after")
        parts.append(member(url, page, compress=compress))
        urls.append(url)
    return b"".join(parts), urls


def build_cases(root: Path) -> list[Case]:
    root.mkdir(parents=True, exist_ok=True)
    cases = []

    def add(name, data, good, reasons, bad_urls=None, suffix=".warc.gz"):
        path = root / f"{name}{suffix}"
        path.write_bytes(data)
        cases.append(Case(name, path, good, reasons, bad_urls or {}))

    victim = member("https://news.example.org/victim", good_page("victim", "x")[1] * 20)
    flipped = bytearray(victim)
    for k in range(60, len(flipped) - 60, 7):  # corrupt the deflate data; the gzip header stays intact
        flipped[k] ^= 0xA5
    add("flipped_gzip", *around("flipped_gzip", bytes(flipped)), {"extract.bad_gzip": 1})
    add("cut_member", *around("cut_member", victim[: len(victim) // 2]), {"extract.bad_gzip": 1})
    data, good = around("truncated_file", after=False)
    add("truncated_file", data + victim[:-50], good, {"extract.truncated_file": 1})
    broken = gzip.decompress(victim).replace(b"Content-Length: ", b"Content-Length: -", 1)
    add(
        "malformed_header",
        *around("malformed_header", gzip.compress(broken)),
        {"extract.malformed_header": 1},
    )

    # Deep nesting: deeper than any tree parser goes, so the text walk keeps the text (test_nesting_bomb_...).
    bomb = (
        "<html><body>"
        + "<div>" * NESTING_DEPTH
        + f"<p>{BURIED}</p>"
        + "</div>" * NESTING_DEPTH
        + "</body></html>"
    )
    data, good = around("html_bomb", member(BOMB_URL, bomb.encode()))
    add("html_bomb", data, good, {})

    # A gzip-coded body that inflates to 50 MB: the decoder stops at the payload cap.
    zip_url = "https://news.example.org/gzip_body_bomb/bomb"
    zipped = gzip.compress(b"<p>" + b" " * BIG_PAGE_BYTES, compresslevel=1)
    coded = member(zip_url, zipped, [("Content-Type", "text/html"), ("Content-Encoding", "gzip")])
    add(
        "gzip_body_bomb",
        *around("gzip_body_bomb", coded),
        {"extract.oversize": 1},
        {zip_url: ("extract.oversize",)},
    )

    # Binary bodies labelled text/html.
    rng = random.Random(9)
    noise_url, png_url = "https://news.example.org/binary/noise", "https://news.example.org/binary/png"
    png = b"\x89PNG\r\n\x1a\n" + rng.randbytes(5000)
    data, good = around("binary", member(noise_url, rng.randbytes(20_000)), member(png_url, png))
    binary = ("extract.binary_payload",)
    add("binary", data, good, {"extract.binary_payload": 2}, {noise_url: binary, png_url: binary})

    # Declared charsets that lie. These pages are recovered, not dropped: see test_charsets_recovered.
    data, good = around(
        "charset",
        *(
            member(f"https://news.example.org/charset/{name}", body, headers)
            for name, body, headers in CHARSET_PAGES
        ),
    )
    add("charset", data, good, {"extract.lang_filter": 2})

    big = big_page_file(root / "big_page.warc")  # uncompressed: 50 MB really on disk
    cases.append(Case("big_page", big[0], big[1], {"extract.oversize": 1}, {big[2]: ("extract.oversize",)}))
    return cases


CAFE = (
    "The café on the corner serves crème brûlée, and naïve visitors admire the façade every day of the week. "
)
JAPANESE = "東京は日本の首都であり、多くの人々が住んでいます。古い寺院と新しい高層ビルが並んでいます。"
CHARSET_PAGES = [
    ("cp1252_says_utf8", article_html("Café", [CAFE * 3]).encode("cp1252"), HTML_UTF8),
    (
        "utf8_says_cp1252",
        article_html("Café", [CAFE * 3]).encode(),
        [("Content-Type", "text/html; charset=windows-1252")],
    ),
    ("sjis_says_utf8", article_html("東京", [JAPANESE * 3]).encode("shift_jis"), HTML_UTF8),
    (
        "sjis_says_sjis",
        article_html("東京", [JAPANESE * 3]).encode("shift_jis"),
        [("Content-Type", "text/html; charset=Shift_JIS")],
    ),
]


def big_page_file(path: Path) -> tuple[Path, list[str], str]:
    """good, a 50 MB text/html page, good, in an uncompressed WARC written in 1 MB steps."""
    url = "https://news.example.org/big_page/big"
    before_url, before = good_page("big_page", "before")
    after_url, after = good_page("big_page", "after")
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"
    opening, step = b"<html><body><p>", b"All work and no play makes a long page. " * 26_214  # ~1 MB
    body_len = len(opening) + step_count(step) * len(step)
    warc_head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Target-URI: {url}\r\nWARC-Date: 2024-03-01T00:00:00Z\r\n"
        "WARC-Record-ID: <urn:uuid:50000000-0000-0000-0000-000000000000>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(head) + body_len}\r\n\r\n"
    ).encode()
    with path.open("wb") as fh:
        fh.write(member(before_url, before, compress=False))
        fh.write(warc_head + head + opening)
        for _ in range(step_count(step)):
            fh.write(step)
        fh.write(b"\r\n\r\n")
        fh.write(member(after_url, after, compress=False))
    return path, [before_url, after_url], url


def step_count(step: bytes) -> int:
    return -(-BIG_PAGE_BYTES // len(step))


@pytest.fixture(scope="module")
def fault_run(spark, tmp_path_factory):
    """The one Spark extract run over every fault file: (cases, warcio paths, OUT)."""
    from jobs.extract import run

    root = tmp_path_factory.mktemp("faults")
    cases = build_cases(root / "in")
    warcio_paths = []
    if WARCIO_DIR.is_dir():  # copied at test time, never into the repository
        shutil.copytree(WARCIO_DIR, root / "in" / "warcio")
        warcio_paths = [str(root / "in" / "warcio" / name) for name in sorted(WARCIO_FILES)]
    cfg = load_config(overrides={"extract.url_prechecks": []})  # URL blocklists are not under test here
    out = root / "out"
    paths = sorted(str(c.path) for c in cases) + warcio_paths
    stats = run(spark, cfg, paths, str(out))
    return cases, warcio_paths, out, stats


def table(out: Path, kind: str) -> pd.DataFrame:
    """kind: docs, rejected, or all (both)."""
    if kind == "all":
        return pd.concat([table(out, "docs"), table(out, "rejected")], ignore_index=True)
    return pq.read_table(out / kind / "extract").to_pandas()


def test_job_finishes_and_counts_every_input_row(fault_run):
    _, _, out, stats = fault_run
    assert (out / "docs" / "extract" / "_SUCCESS").exists()
    kept, rejected = table(out, "docs"), table(out, "rejected")
    total = {r["rule"]: r for r in stats}["_total"]
    assert total["docs_in"] == len(kept) + len(rejected)
    # No record twice. (doc_id alone repeats across warcio's example.warc / .warc.gz / .arc copies of
    # one capture: those are duplicates in the input, for the dedup stage.)
    both = pd.concat([kept, rejected])
    assert not both.duplicated(["warc_file", "warc_offset"]).any()
    assert not both[~both.warc_file.str.contains("/warcio/")].doc_id.duplicated().any()
    # The published stats table says what write_stage returned, and each reason's count is its rows.
    on_disk = pq.read_table(out / "stats" / "extract.parquet").to_pandas().set_index("rule")
    for reason, n in rejected.drop_reason.value_counts().items():
        assert on_disk.loc[reason.removeprefix("extract."), "docs_dropped"] == n, reason


@pytest.mark.parametrize(
    "name",
    [
        "flipped_gzip",
        "cut_member",
        "truncated_file",
        "malformed_header",
        "gzip_body_bomb",
        "binary",
        "charset",
        "big_page",
    ],
)
def test_bad_item_counted_and_neighbours_kept(fault_run, name):
    cases, _, out, _ = fault_run
    case = next(c for c in cases if c.name == name)
    kept, rejected = table(out, "docs"), table(out, "rejected")
    here = rejected[rejected.warc_file == str(case.path)]
    assert set(kept[kept.warc_file == str(case.path)].url) >= {normalize_url(u) for u in case.good_urls}
    assert not set(here.url.dropna()) & {normalize_url(u) for u in case.good_urls}
    for reason, n in case.reasons.items():
        assert (here.drop_reason == reason).sum() == n, (reason, here[["url", "drop_reason", "error"]])
    for url, allowed in case.bad_urls.items():
        (reason,) = here[here.url == normalize_url(url)].drop_reason
        assert reason in allowed
    stats = pq.read_table(out / "stats" / "extract.parquet").to_pandas().set_index("rule")
    assert len(here) >= max(1, sum(case.reasons.values()))
    for reason, n in here.drop_reason.value_counts().items():
        assert stats.loc[reason.removeprefix("extract."), "docs_dropped"] >= n, reason


def test_nesting_bomb_text_kept_and_counted(fault_run):
    """Trafilatura finds nothing past libxml2's depth limit; the text walk keeps the
    text and OUT/stats/extract_passes.parquet counts the page."""
    _, _, out, _ = fault_run
    row = table(out, "docs").set_index("url").loc[normalize_url(BOMB_URL)]
    assert row.text == BURIED and row.extract_pass == "text_walk" and row.deep_nesting
    passes = pq.read_table(out / "stats" / "extract_passes.parquet").to_pylist()
    walked = {
        "extract_passes_run": 1,
        "extract_pass": "text_walk",
        "deep_nesting": True,
        "kept": True,
        "docs": 1,
    }
    assert walked in passes
    extracted = table(out, "all").extract_pass.notna().sum()  # every page that reached the cascade is counted
    assert sum(p["docs"] for p in passes) == extracted > 1


def test_charsets_recovered(fault_run):
    """Lying charset labels: the text comes out right (kept, or held with lang_filter for Japanese)."""
    _, _, out, _ = fault_run
    by_url = table(out, "all").set_index("url")
    for name in ("cp1252_says_utf8", "utf8_says_cp1252"):
        row = by_url.loc[normalize_url(f"https://news.example.org/charset/{name}")]
        assert row.drop_reason is None and "crème brûlée, and naïve visitors admire the façade" in row.text, (
            name
        )
    for name in ("sjis_says_utf8", "sjis_says_sjis"):
        row = by_url.loc[normalize_url(f"https://news.example.org/charset/{name}")]
        assert row.drop_reason == "extract.lang_filter" and row.lang == "ja" and JAPANESE[:20] in row.text, (
            name
        )


def test_warcio_testdata_every_response_a_row(fault_run):
    """warcio's own broken and odd files: each HTTP response is one row, each break a counted reason."""
    _, warcio_paths, out, _ = fault_run
    if not warcio_paths:
        pytest.skip("../shared/data/warc_samples/warcio-testdata not present")
    rows = table(out, "all")
    for path in warcio_paths:
        n_responses, reasons = WARCIO_FILES[Path(path).name]
        mine = rows[rows.warc_file == path]
        bad = mine[mine.url.isna()]  # reader BadRecords carry no URL
        assert len(mine) - len(bad) == n_responses, path
        assert bad.drop_reason.str.removeprefix("extract.").value_counts().to_dict() == reasons, path


def test_big_page_is_skipped_without_being_held(tmp_path):
    """The reader skips a 50 MB body in small steps: its peak allocation stays far below the page."""
    path, good, big_url = big_page_file(tmp_path / "big.warc")
    tracemalloc.start()
    try:
        records = list(iter_records(str(path), "t", max_payload_bytes=5_000_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [r.url for r in records] == [good[0], big_url, good[1]]
    assert all(isinstance(r, RawRecord) for r in records)
    assert records[1].oversize and records[1].payload == b""
    assert peak < 4_000_000, f"peak {peak} bytes while skipping a {BIG_PAGE_BYTES} byte page"


def test_gzip_body_bomb_stops_at_the_cap():
    """The decoder inflates at most cap + 1 bytes of a body that would inflate to 50 MB."""
    from pipeline.io.warc_http import decode_body

    bomb = gzip.compress(b" " * BIG_PAGE_BYTES, compresslevel=1)
    tracemalloc.start()
    try:
        assert decode_body(bomb, "", "gzip", 1_000_000) is None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4_000_000
    assert zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(bomb, 10)  # it is a real gzip stream
