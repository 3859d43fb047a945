"""`python -m jobs diff OUT_A OUT_B`: per rule, what changed in drops and words between two runs.

For a declared rule (pipeline/inspect/declared.py) the diff also shows its config key and the value
each run was made with, so a changed threshold sits next to the drops it changed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from pipeline import stages
from pipeline.inspect import runstats
from pipeline.inspect.declared import rule_for
from pipeline.rules import setting_of


def diff_runs(out_a: str | Path, out_b: str | Path) -> pd.DataFrame:
    """One row per (stage, rule) present in either run: drops in A and B and the change."""
    keys = ["stage", "rule"]

    def drops(out):
        stats = runstats.rule_stats(out)
        if not len(stats):
            return pd.DataFrame(columns=[*keys, "docs_dropped", "bytes_dropped", "lines_removed"])
        stats = stats[stats["domain"].isna()]
        return stats[[*keys, "docs_dropped", "bytes_dropped", "lines_removed"]]

    def words(out):
        w = runstats.rule_drops(out)
        return (
            w[[*keys, "words"]].rename(columns={"words": "words_dropped"})
            if len(w)
            else pd.DataFrame(columns=[*keys, "words_dropped"])
        )

    a = drops(out_a).merge(words(out_a), on=keys, how="left")
    b = drops(out_b).merge(words(out_b), on=keys, how="left")
    merged = a.merge(b, on=keys, how="outer", suffixes=("_a", "_b")).fillna(0)
    for col in ("docs_dropped", "words_dropped", "bytes_dropped", "lines_removed"):
        merged[f"{col}_delta"] = merged[f"{col}_b"] - merged[f"{col}_a"]
    order = {s: i for i, s in enumerate(stages.BY_NAME)}
    merged["_order"] = merged["stage"].map(order).fillna(99)
    merged = merged.sort_values(["_order", "stage", "rule"]).drop(columns="_order").reset_index(drop=True)
    int_cols = [c for c in merged.columns if c not in keys]
    merged[int_cols] = merged[int_cols].astype("int64")
    cfg_a, cfg_b = runstats.run_config(out_a), runstats.run_config(out_b)
    rules = [rule_for(f"{stage}.{rule}") for stage, rule in zip(merged["stage"], merged["rule"])]
    merged["config_key"] = [r.key if r else None for r in rules]
    merged["setting_a"] = [_setting(r, cfg_a) for r in rules]
    merged["setting_b"] = [_setting(r, cfg_b) for r in rules]
    return merged


def _setting(rule, cfg):
    return setting_of(cfg, rule.key) if rule else None


def changed_rows(diff: pd.DataFrame) -> pd.DataFrame:
    deltas = [c for c in diff.columns if c.endswith("_delta")]
    # compared in Python, where None == None (pandas would call two nulls different)
    moved = pd.Series(
        [a != b for a, b in zip(diff["setting_a"], diff["setting_b"])], index=diff.index, dtype=bool
    )
    return diff[(diff[deltas] != 0).any(axis=1) | moved]


def diff_contamination(out_a: str | Path, out_b: str | Path) -> pd.DataFrame:
    """Per eval set in either run: benchmark items found in A and in B, and the change."""
    cols = ["eval_set", "items_found", "docs_matched"]

    def found(out):
        sets = runstats.contamination(out)
        return sets[cols] if len(sets) else pd.DataFrame(columns=cols)

    merged = found(out_a).merge(found(out_b), on="eval_set", how="outer", suffixes=("_a", "_b"))
    if not len(merged):
        return merged
    for col in cols[1:]:
        for side in ("_a", "_b"):  # an eval set absent from one run counts 0 there
            merged[col + side] = pd.to_numeric(merged[col + side]).fillna(0).astype("int64")
        merged[f"{col}_delta"] = merged[f"{col}_b"] - merged[f"{col}_a"]
    return merged.sort_values("eval_set", ignore_index=True)
