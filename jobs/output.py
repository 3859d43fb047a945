"""Writing a stage's output atomically: kept documents, rejected documents and stats.

A stage's transformed table is first written once to scratch (`OUT/_work/<stage>/all`) so the
expensive work runs once; kept and rejected rows are then split from it, stats aggregated from it,
and the three results are moved into place. `OUT/docs/<stage>/_SUCCESS` is written last: a run
killed at any point before it leaves no output that a rerun would read as complete.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

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
    full = spark.read.parquet(all_path)
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
    """The one publish step of every stage: move each finished piece (file or folder) from the
    stage's scratch space to its place in the layout, then write the stage's done marker, last.
    A piece that was not produced (an optional table) is skipped."""
    for source, target in pieces:
        if not source.exists():
            continue
        if target.is_dir():
            shutil.rmtree(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        source.replace(target)
    fault_point(f"publish:{stage}")
    layout.done_marker(out, stage).write_text("")
    shutil.rmtree(work, ignore_errors=True)
