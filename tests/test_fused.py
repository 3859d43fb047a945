"""Fused extract -> filter (one Spark pass) writes exactly what the two stages write when run alone,
and a stage's output costs a fixed, small number of Spark jobs whatever the number of stats tables."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest

from jobs.chain import FUSED, crawl_to_shards, run_stage
from pipeline import layout, stages
from pipeline.config import load_config
from pipeline.fixtures.demo_crawl import generate_demo_crawl


@pytest.fixture(scope="module")
def crawl(tmp_path_factory):
    base = tmp_path_factory.mktemp("fused")
    files = generate_demo_crawl(base / "crawl", seed=7, n_pages=60)
    return [str(f) for f in files]


# Measured per run, so never equal between two runs: the extraction time of each page.
TIMINGS = {"extract_ms"}


def _table(path):
    table = pq.read_table(path).sort_by("doc_id")
    return table.drop_columns([c for c in TIMINGS if c in table.column_names])


def _histograms(path):
    rows = pq.read_table(path).to_pylist()
    return [r for r in rows if r["signal"] not in TIMINGS]


def _jobs(spark, group: str) -> int:
    return len(spark.sparkContext.statusTracker().getJobIdsForGroup(group))


def test_fused_pass_equals_stages_run_alone(spark, crawl, tmp_path):
    cfg = load_config(overrides={"extract.url_prechecks": []})
    fused, alone = str(tmp_path / "fused"), str(tmp_path / "alone")

    spark.sparkContext.setJobGroup("fused", "extract+filter fused")
    assert crawl_to_shards(spark, cfg, crawl, fused, stages=FUSED) == list(FUSED)
    fused_jobs = _jobs(spark, "fused")
    spark.sparkContext.setJobGroup("alone", "extract, then filter")
    run_stage(spark, cfg, "extract", crawl, alone)
    run_stage(spark, cfg, "filter", str(layout.docs_dir(alone, "extract")), alone)
    alone_jobs = _jobs(spark, "alone")
    spark.sparkContext.setJobGroup("rest", "")

    for stage in FUSED:
        assert layout.stage_done(fused, stage)
        for folder in (layout.docs_dir, layout.rejected_dir):
            assert _table(folder(fused, stage)).equals(_table(folder(alone, stage))), (stage, folder.__name__)
        stats = layout.stats_path(fused, stage)
        assert pq.read_table(stats).equals(pq.read_table(layout.stats_path(alone, stage)))
        breakdown = [layout.stage_table_path(run, stage, "breakdown") for run in (fused, alone)]
        assert pq.read_table(breakdown[0]).equals(pq.read_table(breakdown[1]))
        histograms = [layout.stage_table_path(run, stage, "histograms") for run in (fused, alone)]
        assert _histograms(histograms[0]) == _histograms(histograms[1])
    kept = pq.read_table(layout.docs_dir(fused, "filter")).num_rows
    assert 0 < kept < pq.read_table(layout.docs_dir(fused, "extract")).num_rows
    assert not (tmp_path / "fused" / "_work" / "extract").exists()

    # One pass for both stages, plus one listing job for extract's passes table (the counting is
    # pyarrow on the driver); the histograms of a small projection are binned on the driver too
    # (jobs/stats_tables.py); no job per stats table.
    assert fused_jobs <= 2, fused_jobs
    assert fused_jobs < alone_jobs, (fused_jobs, alone_jobs)


def test_stats_are_counted_exactly(spark, crawl, tmp_path):
    """The counts gathered while writing agree with a recount from the published rows."""
    cfg = load_config(overrides={"extract.url_prechecks": []})
    out = str(tmp_path / "run")
    crawl_to_shards(spark, cfg, crawl, out, stages=FUSED)
    for stage in FUSED:
        kept = pq.read_table(layout.docs_dir(out, stage)).to_pylist()
        rejected = pq.read_table(layout.rejected_dir(out, stage)).to_pylist()
        stats = {r["rule"]: r for r in pq.read_table(layout.stats_path(out, stage)).to_pylist()}
        assert stats["_total"]["docs_in"] == len(kept) + len(rejected)
        assert stats["_total"]["docs_dropped"] == len(rejected)
        breakdown = pq.read_table(layout.stage_table_path(out, stage, "breakdown")).to_pylist()
        kept_rows = [r for r in breakdown if r["drop_reason"] is None]
        assert sum(r["docs"] for r in kept_rows) == len(kept)
        assert sum(r["words"] for r in kept_rows) == sum(len((r["text"] or "").split()) for r in kept)
        assert sum(r["chars"] for r in breakdown) == sum(len(r["text"] or "") for r in kept + rejected)
        hist = pq.read_table(layout.stage_table_path(out, stage, "histograms")).to_pylist()
        for signal in {h["signal"] for h in hist}:
            present = sum(r[signal] is not None for r in kept + rejected)
            assert sum(h["docs"] for h in hist if h["signal"] == signal) == present, signal


def test_fused_stages_are_fingerprinted_as_if_run_alone(spark, crawl, tmp_path):
    """After a fused pass each stage's marker holds its own fingerprint: a rerun (fused chain or
    one stage alone) skips both, and a filter config change reruns filter only."""
    cfg = load_config(overrides={"extract.url_prechecks": []})
    out = str(tmp_path / "run")
    crawl_to_shards(spark, cfg, crawl, out, stages=FUSED)
    markers = {stage: layout.success_path(out, stage).read_text() for stage in FUSED}
    assert all(json.loads(m)["stage"] == stage for stage, m in markers.items())

    assert crawl_to_shards(spark, cfg, crawl, out, stages=FUSED) == list(FUSED)
    assert run_stage(spark, cfg, "filter", str(layout.docs_dir(out, "extract")), out) is None
    assert {stage: layout.success_path(out, stage).read_text() for stage in FUSED} == markers

    stricter = load_config(overrides={"extract.url_prechecks": [], "filter.gopher_quality.min_words": 100})
    crawl_to_shards(spark, stricter, crawl, out, stages=FUSED)
    assert layout.success_path(out, "extract").read_text() == markers["extract"]
    assert layout.success_path(out, "filter").read_text() != markers["filter"]


def test_until_runs_a_prefix_of_the_chain_and_checks_only_its_stages():
    from jobs.__main__ import _stages_of, parse_args

    until_filter = parse_args(["crawl-to-shards", "--until", "filter", "--output", "o"])
    assert _stages_of(until_filter) == ("extract", "filter")  # fused: one pass, no quality model needed
    assert _stages_of(parse_args(["crawl-to-shards", "--output", "o"])) == stages.NAMES
    assert _stages_of(parse_args(["dedup", "--output", "o"])) == ("dedup",)
