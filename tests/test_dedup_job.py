"""The dedup stage on real local Spark: URL, MinHash and line dedup, end to end through `run`."""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_config
from pipeline.schema import DOC_SCHEMA
from pipeline.settings import DedupSettings
from pipeline.urls import normalize_url

pytestmark = pytest.mark.spark

T0 = datetime(2024, 3, 1, tzinfo=timezone.utc)
COOKIE = "We use cookies to improve your experience. Accept all cookies to continue."
MENU = "Home | News | Sport | Weather | Contact us"


def _text(rng: random.Random, n_words: int = 120) -> str:
    vocab = [f"{a}{b}" for a in ("ka", "lo", "mi", "te", "su", "ra", "no", "pe") for b in range(60)]
    sentences = [" ".join(rng.choices(vocab, k=12)) + "." for _ in range(n_words // 12)]
    return "\n".join(sentences)


def _edit(rng: random.Random, text: str, n_edits: int) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), n_edits):
        words[i] = "zzedit"
    return " ".join(words)


def _doc(doc_id, text, url=None, quality=None, days=0, host="example.com"):
    return {
        "doc_id": doc_id,
        "url": url or f"https://{host}/{doc_id}",
        "host": host,
        "fetch_time": T0 + timedelta(days=days),
        "text": text,
        "quality_score": quality,
    }


def _corpus() -> list[dict]:
    rng = random.Random(11)
    base, other = _text(rng), _text(rng)
    docs = [
        # URL duplicates: same page fetched three times (tracking parameter, trailing slash).
        _doc("u-old", _text(rng), url="https://news.example.com/a/story", days=0),
        _doc("u-new", _text(rng), url="https://NEWS.example.com/a/story/?utm_source=x", days=5),
        _doc("u-mid", _text(rng), url="https://news.example.com/a/story#top", days=2),
        # A near-duplicate cluster: exact copy, a lightly edited copy (Jaccard ~0.8); best quality wins.
        _doc("n-low", base, quality=0.2),
        _doc("n-best", _edit(rng, base, 2), quality=0.9),
        _doc("n-copy", base, quality=None),
        # Equal quality: the newest fetch wins; then the smallest doc_id.
        _doc("t-old", other, quality=0.5, days=1),
        _doc("t-new", other, quality=0.5, days=3),
        _doc("t-new-b", other, quality=0.5, days=3),
        # Boilerplate lines across unrelated pages of one host; one page is little more than that.
        _doc("b-1", COOKIE + "\n" + _text(rng) + "\n" + MENU, host="shop.test"),
        _doc("b-2", MENU + "\n" + _text(rng) + "\n" + COOKIE, host="shop.test"),
        _doc("b-short", COOKIE + "\n" + MENU + "\nOnly a few own words here.", host="shop.test"),
        # Odd rows: no text, empty text, punctuation only, unparseable URL.
        _doc("x-none", None),
        _doc("x-empty", ""),
        _doc("x-punct", "!!! ... ???"),
        _doc("x-badurl", _text(rng), url="not a url"),
    ]
    docs += [_doc(f"indep-{i}", _text(rng)) for i in range(12)]  # unrelated pages: never removed
    return docs


def _write_input(tmp_path, docs) -> str:
    # as the extract stage writes them: the canonical URL beside the URL as fetched
    docs = [{"url_norm": normalize_url(d.get("url")), **d} for d in docs]
    table = pa.Table.from_pylist(docs, schema=DOC_SCHEMA)  # columns not given are null
    path = tmp_path / "in"
    path.mkdir()
    pq.write_table(table, path / "part-0.parquet")
    return str(path)


def _cfg(**minhash):
    from pipeline.config import load_config

    cfg = load_config()
    cfg["dedup"]["minhash"].update(minhash)
    return cfg


def _rows(path) -> dict[str, dict]:
    return {r["doc_id"]: r for r in pq.read_table(path).to_pylist()}


def test_dedup_job_end_to_end(spark, tmp_path):
    from jobs.dedup import run

    out = tmp_path / "out"
    stats = run(spark, _cfg(), _write_input(tmp_path, _corpus()), str(out))
    kept, rejected = _rows(out / "docs" / "dedup"), _rows(out / "rejected" / "dedup")
    assert (out / "docs" / "dedup" / "_SUCCESS").exists()
    assert len(kept) + len(rejected) == len(_corpus())  # no row lost

    # URL: the newest fetch survives, the others point at it; every row keeps its URL as fetched.
    assert "u-new" in kept
    assert kept["u-new"]["url"] == "https://NEWS.example.com/a/story/?utm_source=x"
    assert kept["u-new"]["url_norm"] == "https://news.example.com/a/story"
    assert rejected["u-mid"]["url"] == "https://news.example.com/a/story#top"
    for doc in ("u-old", "u-mid"):
        assert rejected[doc]["drop_reason"] == "dedup.url"
        assert rejected[doc]["duplicate_of"] == "u-new"
        assert rejected[doc]["dedup_cluster_size"] == 3

    # MinHash: one copy per cluster, chosen by quality, then recency, then doc_id.
    assert "n-best" in kept and kept["n-best"]["dedup_cluster_size"] == 3
    for doc in ("n-low", "n-copy"):
        assert rejected[doc]["drop_reason"] == "dedup.minhash"
        assert rejected[doc]["duplicate_of"] == rejected[doc]["dedup_cluster_id"] == "n-best"
    assert "t-new" in kept
    assert rejected["t-old"]["duplicate_of"] == rejected["t-new-b"]["duplicate_of"] == "t-new"

    # Unrelated pages and odd rows are never removed.
    for doc in [f"indep-{i}" for i in range(12)] + ["x-none", "x-empty", "x-punct", "x-badurl"]:
        assert doc in kept, doc
        assert kept[doc]["dedup_cluster_size"] == 1 and kept[doc]["duplicate_of"] is None

    # Lines: boilerplate cut from every page, the page left too short dropped.
    for doc in ("b-1", "b-2"):
        assert COOKIE not in kept[doc]["text"] and MENU not in kept[doc]["text"]
        assert kept[doc]["dedup_lines_removed"] == 2
        assert kept[doc]["dedup_chars_removed"] == len(COOKIE) + len(MENU) + 2
    assert rejected["b-short"]["drop_reason"] == "dedup.line_min_words"
    assert kept["indep-0"]["dedup_lines_removed"] == 0

    by_rule = {r["rule"]: r for r in stats}
    assert by_rule["url"]["docs_dropped"] == 2
    assert by_rule["minhash"]["docs_dropped"] == 4
    assert by_rule["line_min_words"]["docs_dropped"] == 1
    assert by_rule["line"]["lines_removed"] == 4

    hosts = {r["host"]: r for r in pq.read_table(out / "stats" / "dedup_lines_by_host.parquet").to_pylist()}
    assert hosts["shop.test"]["lines_removed"] == 6  # b-1, b-2 and the dropped b-short
    expected_bytes = 3 * (len(COOKIE) + len(MENU) + 2)
    assert hosts["shop.test"]["bytes_removed"] == expected_bytes
    assert set(hosts) == {"shop.test"}


def test_exact_jaccard_verification_and_threshold_config(spark, tmp_path):
    from jobs.dedup import dedup_frame
    from pipeline.config import load_config

    cfg = load_config(overrides={"dedup.url_enabled": False, "dedup.lines_enabled": False})
    mcfg = cfg["dedup"]["minhash"]
    mcfg.update(verify_jaccard=True, verify_threshold=0.99, threshold=0.5)  # only exact copies pass
    df = spark.read.parquet(_write_input(tmp_path, _corpus()))
    out, _ = dedup_frame(df, DedupSettings.from_config(cfg))
    reasons = {r["doc_id"]: (r["drop_reason"], r["duplicate_of"]) for r in out.collect()}
    # n-low and n-copy are identical; the edited n-best is no longer close enough.
    assert reasons["n-copy"] == ("dedup.minhash", "n-low")
    assert reasons["n-best"] == (None, None) and reasons["n-low"] == (None, None)
    assert sum(reason == "dedup.minhash" for reason, _ in reasons.values()) == 3  # + t-old, t-new-b


def test_url_dedup_keys_on_url_norm_not_url(spark, tmp_path):
    """Two different fetched URLs with one canonical form are duplicates; the same fetched URL
    with different canonical forms is not (the canonical column decides, not the raw one)."""
    from jobs.dedup import dedup_frame

    rng = random.Random(5)
    rows = [
        {
            **_doc("a", _text(rng), url="https://x.test/p?b=2&a=1", days=0),
            "url_norm": "https://x.test/p?a=1&b=2",
        },
        {
            **_doc("b", _text(rng), url="https://X.test/p/?a=1&b=2", days=1),
            "url_norm": "https://x.test/p?a=1&b=2",
        },
        {**_doc("c", _text(rng), url="https://y.test/same", days=0), "url_norm": "https://y.test/one"},
        {**_doc("d", _text(rng), url="https://y.test/same", days=1), "url_norm": "https://y.test/two"},
    ]
    cfg = load_config(overrides={"dedup.minhash_enabled": False, "dedup.lines_enabled": False})
    df, _ = dedup_frame(spark.read.parquet(_write_input(tmp_path, rows)), DedupSettings.from_config(cfg))
    reasons = {r["doc_id"]: r["drop_reason"] for r in df.select("doc_id", "drop_reason").collect()}
    assert reasons == {"a": "dedup.url", "b": None, "c": None, "d": None}
