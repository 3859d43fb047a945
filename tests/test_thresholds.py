"""Rules are declared once (pipeline/rules.py): the stages, re-thresholding, the report and the docs
all read the same declarations, and every declared rule re-thresholds from a real run's signals."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.filters.c4 import TOO_FEW_WORDS, C4Filter
from pipeline.filters.gopher import GopherQualityFilter
from pipeline.filters.stage import FilterStage
from pipeline.inspect import runstats
from pipeline.inspect.declared import DECLARED_RULES, rule_for, rules_markdown
from pipeline.inspect.rethreshold import columns_needed, rethreshold
from pipeline.rules import setting_of
from pipeline.schema import empty_docs, set_column

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("rule", DECLARED_RULES, ids=lambda r: r.reason)
def test_declaration_points_at_a_real_key_and_rule(rule):
    cfg = load_config()
    parent, _, leaf = rule.key.rpartition(".")
    assert leaf in setting_of(cfg, parent), f"{rule.reason}: config key {rule.key} missing"
    if rule.stage == "filter":
        columns = {f.name for f in FilterStage.signals}
        if rule.line:
            assert FilterStage.line_rules[rule.name] == (rule.line.lines, rule.line.chars)
        else:
            assert rule.name in FilterStage.rules
        assert rule.signal is None or rule.signal in columns


def test_max_words_and_line_rules_are_declared():
    for reason in (
        "filter.gopher_max_words",
        "filter.c4_too_few_words",
        "dedup.line_min_words",
        "dedup.line",
    ):
        assert rule_for(reason) is not None, reason


def test_docs_table_is_generated_from_the_declarations():
    assert rules_markdown() in (REPO / "docs" / "stats.md").read_text(), (
        "docs/stats.md is stale: paste `python -m pipeline.inspect.declared` into it"
    )


def test_rethreshold_counts_both_directions():
    rule = rule_for("filter.gopher_min_words")
    docs = pd.DataFrame(
        {
            "text": ["a b c", "a b c d e", "a", "a b c d e f g"],
            "drop_reason": [None, None, "filter.gopher_min_words", "filter.gopher_min_words"],
            "gopher_word_count": [3, 5, 1, 7],
        }
    )
    # min_words 6: the 3- and 5-word kept docs are newly dropped; the 7-word rejected one passes now
    change = rethreshold(docs, rule, 6, load_config())
    assert (change.newly_dropped_docs, change.newly_dropped_words) == (2, 8)
    assert (change.newly_kept_docs, change.newly_kept_words) == (1, 7)
    # the other bound on the same signal is its own rule
    over = rethreshold(docs, rule_for("filter.gopher_max_words"), 4, load_config())
    assert (over.newly_dropped_docs, over.newly_kept_docs) == (1, 0)


def test_stage_and_stored_value_agree_at_the_boundary():
    """A ratio of exactly 0.1 is kept by `<= 0.1`; its float32 copy on disk must be kept too."""
    text = "# " + " ".join(["word"] * 9)  # 1 hash symbol / 10 tokens = 0.1
    batch = set_column(empty_docs(1), "text", [text], pa.string())
    cfg = {**load_config()["filter"]["gopher_quality"], "min_words": 1, "min_stop_words": 0}
    out = GopherQualityFilter(cfg).apply(batch)
    assert out.column("drop_reason").to_pylist() == [None]
    docs = out.to_pandas()
    change = rethreshold(docs, rule_for("filter.gopher_hash_word_ratio"), 0.1, load_config())
    assert change.newly_dropped_docs == 0


def test_line_rule_moves_both_ways():
    text = "One two three four five six.\nOne two three.\nFive words are right here."
    batch = set_column(empty_docs(1), "text", [text], pa.string())
    cfg = {**load_config()["filter"]["c4"], "min_num_sentences": 0}
    docs = C4Filter(cfg).apply(batch).to_pandas()
    assert docs.loc[0, "c4_too_few_words_lines"] == 1 and list(docs.loc[0, "c4_too_few_words_values"]) == [3]
    run_cfg = load_config()
    assert rethreshold(docs, TOO_FEW_WORDS, 3, run_cfg).restored_lines == 1  # 3-word line comes back
    assert not any(rethreshold(docs, TOO_FEW_WORDS, 5, run_cfg).as_dict().values())  # as run
    stricter = rethreshold(docs, TOO_FEW_WORDS, 6, run_cfg)
    assert (stricter.newly_cut_lines, stricter.restored_lines) == (1, 0)  # the 5-word line goes


def _moved(rule, current):
    """A setting that moves the rule: a flag switched, a threshold tightened."""
    if rule.keep_if == "==":
        return not current
    if current is None:
        return 1
    return current * 8 if rule.keep_if == ">=" else current / 8


@pytest.mark.parametrize("rule", DECLARED_RULES, ids=lambda r: r.reason)
def test_every_declared_rule_rethresholds_from_the_run(demo_run, rule):
    """At the run's own setting nothing changes (the declaration is what the stage applied);
    moved, the change goes the way the direction says."""
    out, cfg, _ = demo_run
    docs = runstats.all_docs(out, rule.stage, columns=columns_needed(rule))
    assert set(columns_needed(rule)) <= set(docs.columns), f"{rule.reason}: stored signals missing"
    current = setting_of(cfg, rule.key)
    same = rethreshold(docs, rule, current, cfg)
    assert not any(same.as_dict().values()), f"{rule.reason}: re-made decisions differ from the run: {same}"
    moved = rethreshold(docs, rule, _moved(rule, current), cfg)
    if rule.line is None and rule.keep_if != "==":
        assert moved.newly_kept_docs == 0  # tightened: nothing the rule dropped comes back
        if rule.reason == "filter.gopher_min_words":
            assert moved.newly_dropped_docs > 0  # the demo crawl has kept documents under 400 words
    if rule.line is not None and rule.keep_if != "==":
        assert moved.restored_lines == 0  # tightened: no cut line comes back
    if rule.line is not None and rule.keep_if == "==" and current:
        stats = runstats.rule_stats(out)
        row = stats[(stats["stage"] == rule.stage) & (stats["rule"] == rule.name) & stats["domain"].isna()]
        assert moved.restored_lines == int(row["lines_removed"].iloc[0])  # switched off: all its lines back
