"""Reading a run's statistics back: the tables a notebook, the report and the run diff share.

Everything here reads the Parquet files of DESIGN.md section 5 with pyarrow/pandas only, so it works
in a notebook without Spark. Table schemas are documented in docs/stats.md.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from pipeline import layout, stages, storage
from pipeline.commit import parquet_dataset
from pipeline.config import load_config
from pipeline.stats import TOTAL, rule_name


def run_config(out: str | Path | None) -> dict[str, Any]:
    """The resolved config a run was made with (OUT/config.yaml), else the defaults."""
    path = layout.config_path(out) if out else None
    if path and path.exists():
        return yaml.safe_load(path.read_text())
    return load_config()


def read_table(path) -> pd.DataFrame:
    """One Parquet table of a run (a stats table), local or in an object store."""
    fs, where = storage.fs_path(path)
    return pq.read_table(where, filesystem=fs).to_pandas()


def stages_present(out: str | Path) -> list[str]:
    return [s for s in stages.BY_NAME if layout.stats_path(out, s).exists()]


def rule_stats(out: str | Path) -> pd.DataFrame:
    """All `OUT/stats/<stage>.parquet` rows, stages in pipeline order."""
    frames = [read_table(layout.stats_path(out, s)) for s in stages_present(out)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def breakdown(out: str | Path) -> pd.DataFrame:
    frames = []
    for stage in stages_present(out):
        path = layout.stage_table_path(out, stage, "breakdown")
        if path.exists():
            frames.append(read_table(path))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def histograms(out: str | Path, stage: str) -> pd.DataFrame:
    path = layout.stage_table_path(out, stage, "histograms")
    return read_table(path) if path.exists() else pd.DataFrame()


def funnel(out: str | Path) -> pd.DataFrame:
    """Documents and words entering and remaining after each stage.

    Documents come from each stage's `_total` stats row; words (whitespace tokens, after the stage's
    line edits) from its breakdown table, where the stage writes one (the shards stage counts real
    tokens in its manifest instead).
    """
    stats = rule_stats(out)
    b = breakdown(out)
    rows = []
    for stage in stages_present(out):
        total = stats[(stats["stage"] == stage) & (stats["rule"] == TOTAL) & stats["domain"].isna()].iloc[0]
        part = b[b["stage"] == stage] if len(b) else b
        has_words = len(part) > 0
        rows.append(
            {
                "stage": stage,
                "docs_in": int(total["docs_in"]),
                "docs_kept": int(total["docs_in"] - total["docs_dropped"]),
                "words_in": int(part["words"].sum()) if has_words else None,
                "words_kept": int(part.loc[part["drop_reason"].isna(), "words"].sum()) if has_words else None,
            }
        )
    df = pd.DataFrame(rows, columns=["stage", "docs_in", "docs_kept", "words_in", "words_kept"])
    df[["words_in", "words_kept"]] = df[["words_in", "words_kept"]].astype("Int64")
    if len(df):
        df["docs_kept_pct"] = (100.0 * df["docs_kept"] / df["docs_in"].where(df["docs_in"] > 0)).round(1)
    return df


def rule_drops(out: str | Path) -> pd.DataFrame:
    """Per (stage, rule): documents, characters and words dropped, from the breakdown table.

    `rule` is named as in the stats tables (`pipeline.stats.rule_name`); `drop_reason` is the full
    reason the rejected rows carry.
    """
    b = breakdown(out)
    if not len(b):
        return pd.DataFrame(columns=["stage", "rule", "drop_reason", "docs", "chars", "words"])
    dropped = b[b["drop_reason"].notna()].copy()
    dropped["rule"] = [rule_name(s, r) for s, r in zip(dropped["stage"], dropped["drop_reason"])]
    keys = ["stage", "rule", "drop_reason"]
    grouped = dropped.groupby(keys, as_index=False)[["docs", "chars", "words"]].sum()
    return grouped.sort_values(["stage", "words"], ascending=[True, False], ignore_index=True)


def rejected_docs(
    out: str | Path, stage: str, rule: str | None = None, columns: list[str] | None = None
) -> pd.DataFrame:
    """Rejected documents of a stage (optionally one drop reason), read lazily with a filter."""
    dataset = parquet_dataset(layout.rejected_dir(out, stage))
    if dataset is None:
        return pd.DataFrame()
    expr = ds.field("drop_reason") == rule if rule else None
    return dataset.to_table(columns=columns, filter=expr).to_pandas()


def all_docs(out: str | Path, stage: str, columns: list[str] | None = None) -> pd.DataFrame:
    """Kept and rejected documents of a stage together (each with its signals)."""
    frames = []
    for path in (layout.docs_dir(out, stage), layout.rejected_dir(out, stage)):
        dataset = parquet_dataset(path) if path.exists() else None
        if dataset is not None:
            names = [c for c in columns if c in dataset.schema.names] if columns else None
            frames.append(dataset.to_table(columns=names).to_pandas())
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def contamination(out: str | Path) -> pd.DataFrame:
    """Per eval set: items, items found in the crawl and their fraction (`OUT/stats/decontam_sets.parquet`)."""
    path = layout.decontam_sets_path(out)
    return read_table(path) if path.exists() else pd.DataFrame()


def contaminated_items(out: str | Path) -> pd.DataFrame:
    """One row per benchmark item found: documents matched and an example URL (`decontam_items.parquet`)."""
    path = layout.decontam_items_path(out)
    return read_table(path) if path.exists() else pd.DataFrame()


def contamination_text(out: str | Path) -> str:
    """One line per eval set, for the terminal: how much of it the crawl contains."""
    sets = contamination(out)
    lines = [
        f"contamination: {r.eval_set}: {r.items_found}/{r.items} items found ({100 * r.fraction_found:.1f} %), "
        f"{r.docs_matched} documents"
        for r in sets.itertuples()
    ]
    return "\n".join(lines)
