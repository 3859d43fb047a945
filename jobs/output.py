"""Writing a stage's output atomically: kept documents, rejected documents and stats.

A stage's transformed table is first written once to scratch (`OUT/_work/<stage>/all`) so the
expensive work runs once; kept and rejected rows are then split from it, stats aggregated from it,
and the three results are moved into place. The documents folder, with its `_SUCCESS`, lands last in
one rename: a run killed at any point before it leaves no output that a rerun (or the next stage)
would read as complete, and a complete old output stays in place until the new one is complete.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from jobs.frames import read_parquet
from jobs.stats_tables import write_tables
from pipeline import layout
from pipeline.fixtures.faults import fault_point
from pipeline.stats import rule_rows, stats_table

log = logging.getLogger(__name__)


def write_stage(
    df,
    out: str,
    stage: str,
    rules: list[str] | tuple[str, ...],
    line_rules: dict[str, tuple[str, str]] | None = None,
    size_col: str = "text",
    extra_stats: list[dict] | None = None,
    extra_tables: dict[str, Callable[[Any], pa.Table]] | None = None,
) -> list[dict]:
    """Write `df` (every row, `drop_reason` set on rejects) as the output of `stage`; return stats rows.

    `extra_tables` maps a name to a function of the full stage output (a DataFrame) returning a small
    Arrow table; it is published as `OUT/stats/<stage>_<name>.parquet` with the rest of the stage.
    """
    from pyspark.sql import functions as F

    line_rules = line_rules or {}
    work = layout.work_dir(out, stage)
    shutil.rmtree(work, ignore_errors=True)
    all_path = str(work / "all")
    df.write.mode("overwrite").parquet(all_path)
    fault_point(f"scratch:{stage}")

    spark = df.sparkSession
    full = read_parquet(spark, all_path)
    size = F.octet_length(F.col(size_col)) if dict(full.dtypes).get(size_col) == "string" else F.col(size_col)
    size = F.coalesce(size.cast("long"), F.lit(0))

    # Numbers for the stats: per drop reason, and the line-level totals.
    per_reason = (
        full.groupBy("drop_reason").agg(F.count("*").alias("docs"), F.sum(size).alias("bytes")).collect()
    )
    total_docs = sum(r["docs"] for r in per_reason)
    total_bytes = sum(int(r["bytes"] or 0) for r in per_reason)
    dropped = {r["drop_reason"]: (r["docs"], int(r["bytes"] or 0)) for r in per_reason if r["drop_reason"]}
    line_totals = {}
    if line_rules:
        sums = [F.sum(F.col(c)).alias(c) for cols in line_rules.values() for c in cols]
        agg = full.where(F.col("drop_reason").isNull()).agg(*sums).collect()[0]
        line_totals = {rule: (int(agg[a] or 0), int(agg[b] or 0)) for rule, (a, b) in line_rules.items()}
    rows = rule_rows(stage, rules, dropped, total_docs, total_bytes, line_totals) + list(extra_stats or [])

    full.where(F.col("drop_reason").isNull()).write.mode("overwrite").parquet(str(work / "docs"))
    full.where(F.col("drop_reason").isNotNull()).write.mode("overwrite").parquet(str(work / "rejected"))
    pq.write_table(stats_table(rows), work / "stats.parquet")
    write_tables(full, stage, work)
    for name, build in (extra_tables or {}).items():
        pq.write_table(build(full), work / f"{name}.parquet")

    tables = ["breakdown", "histograms", *(extra_tables or {})]
    publish(
        out,
        stage,
        work,
        [
            (work / "rejected", layout.rejected_dir(out, stage)),
            (work / "stats.parquet", layout.stats_path(out, stage)),
            *((work / f"{t}.parquet", layout.stage_table_path(out, stage, t)) for t in tables),
            (work / "docs", layout.docs_dir(out, stage)),
        ],
    )
    log.info(
        "%s: %d documents in, %d kept", stage, total_docs, total_docs - sum(d for d, _ in dropped.values())
    )
    return rows


def publish(out: str, stage: str, work: Path, pieces: list[tuple[Path, Path]]) -> None:
    """The one publish step of every stage: (scratch source, layout target) pairs, the LAST of which is
    the folder that holds the stage's `_SUCCESS`. The marker is written into that folder while it is
    still in scratch; the old complete outputs are moved aside (renames: a reader keeps its open files)
    starting with the marked one, so the stage reads as unfinished while pieces move; the marked folder
    lands last with one rename, complete the moment it appears. A piece not produced is skipped."""
    *others, (marked, marked_target) = pieces
    (marked / layout.SUCCESS).write_text("")
    others = [(source, target) for source, target in others if source.exists()]
    retire_output([marked_target, *(target for _, target in others)], work / "previous")
    for source, target in others:
        source.rename(target)
    fault_point(f"publish:{stage}")
    marked.rename(marked_target)
    shutil.rmtree(work, ignore_errors=True)


def retire_output(targets: list[Path], previous: Path) -> None:
    """Move complete old outputs aside (renames, so a reader that has them open keeps reading them);
    `previous` is scratch, deleted with it. The first target moved is the one holding `_SUCCESS`."""
    previous.mkdir(parents=True, exist_ok=True)
    for i, target in enumerate(targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(previous / f"{i}_{target.name}")
