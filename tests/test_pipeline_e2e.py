"""`crawl-to-shards` on the generated demo crawl: what each stage must have done to the planted pages."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest

from pipeline import layout, stages


def _rows(path, columns=None):
    return pq.read_table(path, columns=columns).to_pylist() if path.exists() else []


def _by_kind(manifest, kind):
    return [r for r in manifest["records"] if r["kind"] == kind]


def test_every_stage_completed(demo_run):
    out, _, _ = demo_run
    for stage in stages.NAMES:
        assert layout.stage_done(out, stage), f"{stage} did not complete"


def test_extract_counts_bad_records_and_keeps_good_ones(demo_run):
    out, _, manifest = demo_run
    stats = {r["rule"]: r for r in _rows(layout.stats_path(out, "extract"))}
    for reason, count in manifest["expected_reader"]["bad"].items():
        assert stats[reason]["docs_dropped"] == count
    assert stats["_total"]["docs_in"] == manifest["expected_reader"]["good"] + sum(
        manifest["expected_reader"]["bad"].values()
    )
    kept_urls = {r["url"] for r in _rows(layout.docs_dir(out, "extract"), ["url"])}
    articles = _by_kind(manifest, "article")
    assert sum(a["url"] in kept_urls for a in articles) >= 0.95 * len(articles)
    rejected = {
        r["url"]: r["drop_reason"] for r in _rows(layout.rejected_dir(out, "extract"), ["url", "drop_reason"])
    }
    for kind, reason in [
        ("non_html", "extract.not_html"),
        ("http_404", "extract.not_response_200"),
        ("oversize", "extract.oversize"),
        ("binary_html", "extract.binary_payload"),
    ]:
        for rec in _by_kind(manifest, kind):
            assert rejected.get(rec["url"]) == reason, (kind, rec["url"])


def test_blocklisted_hosts_are_rejected_before_extraction(demo_run, shared_data):
    out, _, manifest = demo_run
    rejected = {r["url"]: r for r in _rows(layout.rejected_dir(out, "extract"))}
    adult = _by_kind(manifest, "adult_url")
    assert adult
    for rec in adult:
        assert rejected[rec["url"]]["drop_reason"] in ("filter.url_blocklist", "filter.url_words")
        assert not rejected[rec["url"]]["text"]  # never parsed


def test_filter_output_holds_no_planted_pii(demo_run):
    out, _, manifest = demo_run
    planted = [s for r in manifest["records"] for values in (r.get("planted") or {}).values() for s in values]
    assert planted
    texts = "\n".join(r["text"] for r in _rows(layout.docs_dir(out, "filter"), ["text"]))
    leaked = [s for s in planted if s in texts]
    assert not leaked
    assert "<EMAIL>" in texts  # the PII documents themselves were kept, redacted


def test_filter_stats_have_a_row_per_rule(demo_run):
    from pipeline.filters.stage import FilterStage

    out, _, _ = demo_run
    rules = {r["rule"] for r in _rows(layout.stats_path(out, "filter"))}
    assert set(FilterStage.rules) <= rules


@pytest.mark.parametrize("kind", ["spam", "lorem", "short", "js_notice"])
def test_planted_low_quality_pages_are_rejected_with_a_reason(demo_run, kind):
    """Each planted page is rejected by some rule (lorem ipsum is caught as non-English already) or,
    for line-level problems, kept with the offending lines cut."""
    out, _, manifest = demo_run
    reasons = {}
    for stage in ("extract", "filter"):
        reasons.update(
            {
                r["url"]: r["drop_reason"]
                for r in _rows(layout.rejected_dir(out, stage), ["url", "drop_reason"])
            }
        )
    kept = {r["url"]: r["text"] for r in _rows(layout.docs_dir(out, "filter"), ["url", "text"])}
    recs = _by_kind(manifest, kind)
    assert recs
    for rec in recs:
        if kind == "js_notice" and rec["url"] in kept:
            assert "javascript" not in kept[rec["url"]].lower()
        else:
            assert reasons.get(rec["url"], "").startswith(("filter.", "extract.lang_filter")), (
                kind,
                rec["url"],
            )
