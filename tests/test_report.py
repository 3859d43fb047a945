"""Data-team views of a run: the funnel, the HTML report, the notebook (executed) and the run diff."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from pipeline import layout, stages
from pipeline.inspect import runstats, svg
from pipeline.inspect.report import build_report
from pipeline.inspect.rundiff import changed_rows, diff_runs

REPO = Path(__file__).resolve().parent.parent


def test_funnel_is_monotone_and_matches_stats(demo_run):
    out, _, _ = demo_run
    funnel = runstats.funnel(out)
    assert list(funnel["stage"]) == runstats.stages_present(out)
    kept = list(funnel["docs_kept"])
    assert all(a >= b for a, b in zip(kept, kept[1:]))
    for row in funnel.itertuples():
        stats = runstats.rule_stats(out)
        total = stats[(stats["stage"] == row.stage) & (stats["rule"] == "_total")].iloc[0]
        assert row.docs_in == total["docs_in"] and row.docs_kept == total["docs_in"] - total["docs_dropped"]


def test_report_is_one_self_contained_file(demo_run):
    out, _, _ = demo_run
    page = build_report(out).read_text()
    assert "<h2>Funnel</h2>" in page and "Sampled rejected documents" in page
    charts = re.findall(r"<svg ", page)
    assert len(charts) >= 5  # funnel, drops, and signal histograms
    assert page.count("<svg ") == page.count("</svg>")
    assert "http://" not in re.sub(r"<div class='url'>.*?</div>|<pre>.*?</pre>", "", page, flags=re.S)
    assert "filter.gopher" in page or "filter.c4" in page  # per-rule sections name the rules


def test_histogram_chart_draws_each_bin_and_the_threshold():
    kept = [(0.0, 10.0, 4), (10.0, 20.0, 0), (20.0, 30.0, 8)]
    dropped = [(0.0, 10.0, 2)]
    chart = svg.histogram({"kept": kept, "dropped": dropped}, [15.0, 99.0], "words <x>")
    assert chart.count('class="kept"') == 2 and chart.count('class="dropped"') == 1  # empty bins draw nothing
    assert chart.count('class="threshold"') == 1  # 99 lies outside the value range
    heights = [float(h) for h in re.findall(r'class="kept"[^>]*height="([0-9.]+)"', chart)]
    assert heights[1] == pytest.approx(2 * heights[0], rel=0.02)  # bar height proportional to documents
    assert "words &lt;x&gt;" in chart


def test_report_cli_prints_the_funnel(demo_run):
    out, _, _ = demo_run
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", "report", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0].split()[:3] == ["stage", "docs", "in"]
    assert f"report: {out / 'report.html'}" in proc.stdout


def test_notebook_runs_and_rethresholds(demo_run):
    out, _, _ = demo_run
    nb = nbformat.read(REPO / "notebooks" / "filter_stats.ipynb", as_version=4)
    params = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    params.source = (
        f'OUT = "{out}"\nSTAGE = "filter"\nRULE = None\nMOVE = "filter.gopher_min_words"\nNEW_VALUE = 400'
    )
    NotebookClient(
        nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    ).execute()
    last = nb.cells[-1].outputs[-1]["data"]["text/plain"]
    values = dict(line.split(None, 1) for line in last.splitlines() if len(line.split(None, 1)) == 2)
    assert (
        values["signal"] == "gopher_word_count" and values["config_key"] == "filter.gopher_quality.min_words"
    )
    # Raising the minimum word count from 50 to 400 can only drop more documents, never keep more.
    assert int(values["newly_dropped_docs"]) > 0 and int(values["newly_kept_docs"]) == 0


def test_run_diff_names_the_rule_that_changed(demo_run, spark, tmp_path):
    from pipeline.stages import runner

    out, cfg, _ = demo_run
    other = tmp_path / "b"
    shutil.copytree(layout.docs_dir(out, "extract"), layout.docs_dir(other, "extract"))
    shutil.copytree(layout.stats_path(out, "extract").parent, other / "stats")
    for stage in stages.NAMES[1:]:
        for suffix in ("", "_breakdown", "_histograms"):
            (other / "stats" / f"{stage}{suffix}.parquet").unlink(missing_ok=True)
    cfg_b = {
        **cfg,
        "filter": {**cfg["filter"], "gopher_quality": {**cfg["filter"]["gopher_quality"], "min_words": 400}},
    }
    runner("filter")(spark, cfg_b, str(layout.docs_dir(other, "extract")), str(other))
    diff = diff_runs(out, other)
    changed = changed_rows(diff[diff["stage"] == "filter"])
    assert "gopher_min_words" in set(changed["rule"]) or "gopher_word_count" in " ".join(changed["rule"])
    assert (changed["docs_dropped_delta"] >= 0).all() or len(changed) > 1
    assert not len(changed_rows(diff[diff["stage"] == "extract"]))


@pytest.mark.parametrize("args", [["report"], ["diff", "only-one"]])
def test_offline_commands_usage(args):
    proc = subprocess.run([sys.executable, "-m", "jobs", *args], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "usage" in proc.stderr
