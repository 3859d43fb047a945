"""Decontam on Spark over a crawl of real pages with benchmark items planted in (pipeline/fixtures/planted_evals.py).

Targets: recall 1.0 on planted items of >= 13 words (whole, reformatted, embedded),
near-misses kept, and no real page of ../shared/data removed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import decontam as decontam_job
from jobs.chain import run_stage
from pipeline import layout
from pipeline.config import load_config
from pipeline.decontam.stage import build_eval_index
from pipeline.fixtures.planted_evals import planted_docs
from pipeline.inspect import runstats
from pipeline.schema import DOC_SCHEMA, conform

REPO = Path(__file__).resolve().parent.parent
RECALL_MIN_WORDS = 13  # GPT-3's longest n: every item at least this long holds an n-gram of any eval set


def _config(shared_data, **overrides):
    eval_sets = [str(shared_data / "eval_benchmarks"), str(shared_data / "wikitext2" / "valid.txt")]
    return load_config(overrides={"decontam.eval_sets": eval_sets, **overrides})


def _write_crawl(rows, path):
    table = pa.Table.from_pylist([{k: r[k] for k in ("doc_id", "url", "text")} for r in rows])
    path.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_batches([conform(b, DOC_SCHEMA) for b in table.to_batches()]), path / "part-0.parquet"
    )
    (path / layout.SUCCESS).write_text("")  # a finished upstream output, as dedup leaves it
    return str(path)


@pytest.fixture(scope="module")
def planted(shared_data):
    return planted_docs(shared_data, per_kind=25, seed=14)


@pytest.fixture(scope="module")
def planted_run(spark, shared_data, planted, tmp_path_factory):
    base = tmp_path_factory.mktemp("decontam")
    inp = _write_crawl(planted, base / "crawl")
    out = base / "run"
    cfg = _config(shared_data)
    run_stage(spark, cfg, "decontam", inp, str(out))  # as the chain runs it: the marker records its inputs
    return out, cfg, inp


def _reasons(out):
    docs = runstats.all_docs(out, "decontam", columns=["doc_id", "drop_reason", "decontam_items"])
    return dict(zip(docs["doc_id"], docs["drop_reason"]))


def test_planted_items_are_removed_and_real_pages_are_not(planted_run, planted):
    out, _, _ = planted_run
    reasons = _reasons(out)
    assert len(reasons) == len(planted)  # every document is either kept or rejected, none lost
    real = [r for r in planted if r["kind"] == "real"]
    assert len(real) > 900
    false_removals = [r["url"] for r in real if reasons[r["doc_id"]] is not None]
    assert false_removals == []
    for kind in ("whole", "reformat", "embedded"):
        rows = [r for r in planted if r["kind"] == kind and r["item_words"] >= RECALL_MIN_WORDS]
        assert len(rows) == 25
        missed = [(r["planted_set"], r["planted_item"]) for r in rows if reasons[r["doc_id"]] is None]
        assert missed == [], kind
        assert all(reasons[r["doc_id"]] == f"decontam.{r['planted_set']}" for r in rows)
    near = [r for r in planted if r["kind"] == "near_miss"]
    assert [r["url"] for r in near if reasons[r["doc_id"]] is not None] == []


def test_contamination_report_names_the_planted_items(planted_run, planted):
    out, _, _ = planted_run
    items = pq.read_table(layout.decontam_items_path(out)).to_pylist()
    found = {(r["eval_set"], r["item"]): r for r in items}
    planted_keys = {
        (r["planted_set"], r["planted_item"])
        for r in planted
        if r["kind"] in ("whole", "reformat", "embedded")
    }
    assert planted_keys <= set(found)
    # Items are only ever found in planted pages (a planted HumanEval prompt may also share an n-gram
    # with a sibling item, e.g. filter_by_substring / filter_by_prefix): none from real pages or near-misses.
    assert all(r["example_url"].startswith("https://planted.example/") for r in items)
    near = {r["url"] for r in planted if r["kind"] == "near_miss"}
    assert not near & {r["example_url"] for r in items}
    sets = {r["eval_set"]: r for r in pq.read_table(layout.decontam_sets_path(out)).to_pylist()}
    assert set(sets) == {"gsm8k_test_part1", "humaneval_part1", "valid"}
    for name in ("gsm8k_test_part1", "humaneval_part1"):
        n_found = sum(1 for key in found if key[0] == name)
        assert sets[name]["items_found"] == n_found >= sum(1 for key in planted_keys if key[0] == name)
        assert sets[name]["fraction_found"] == pytest.approx(n_found / sets[name]["items"])
    assert sets["valid"]["items_found"] == 0 and sets["valid"]["ngram"] == 13


def test_stage_outputs_stats_and_resume(planted_run, spark):
    out, cfg, inp = planted_run
    assert (layout.docs_dir(out, "decontam") / layout.SUCCESS).exists()
    stats = runstats.rule_stats(out)
    rules = dict(zip(stats["rule"], stats["docs_dropped"]))
    assert rules["_total"] == 75 and rules["gsm8k_test_part1"] + rules["humaneval_part1"] == 75
    assert run_stage(spark, cfg, "decontam", inp, str(out)) is None  # complete: skipped on rerun


def test_cut_mode_on_spark_counts_removed_lines(spark, shared_data, planted, tmp_path):
    rows = [r for r in planted if r["kind"] == "embedded"]
    out = tmp_path / "run"
    cfg = _config(shared_data, **{"decontam.mode": "cut"})
    stats = decontam_job.run(spark, cfg, _write_crawl(rows, tmp_path / "crawl"), str(out))
    cut = next(r for r in stats if r["rule"] == "cut")
    total = next(r for r in stats if r["rule"] == "_total")
    assert cut["lines_removed"] > 0 and cut["bytes_removed"] > 0
    kept = runstats.all_docs(out, "decontam", columns=["doc_id", "text", "drop_reason"])
    survivors = kept[kept["drop_reason"].isna()]
    assert len(survivors) == total["docs_in"] - total["docs_dropped"] > 0
    index = build_eval_index(cfg["decontam"])
    assert all(index.match_text(text).items == [] for text in survivors["text"])  # nothing of an item is left


def test_cli_rejects_a_missing_eval_set_before_spark_starts(tmp_path):
    missing = tmp_path / "gone.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs",
            "decontam",
            "--output",
            str(tmp_path / "o"),
            "--set",
            f"decontam.eval_sets=[{missing}]",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"config error: decontam.eval_sets: {missing} not found"]


def test_report_and_run_diff_show_the_contamination(planted_run, tmp_path):
    from pipeline.inspect.report import build_report
    from pipeline.inspect.rundiff import diff_contamination

    out, _, _ = planted_run
    page = build_report(out).read_text()
    assert "<h2>Benchmark contamination</h2>" in page and "humaneval_part1" in page and "HumanEval/" in page
    assert "contamination: gsm8k_test_part1: " in runstats.contamination_text(out)
    diff = diff_contamination(tmp_path, out).set_index("eval_set")  # an empty run vs this one
    found = runstats.contamination(out).set_index("eval_set")["items_found"]
    assert (diff["items_found_delta"] == found).all() and diff.loc[
        "gsm8k_test_part1", "items_found_delta"
    ] > 0
