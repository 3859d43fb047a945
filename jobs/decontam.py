"""The decontam stage on Spark: drop or cut documents that overlap benchmark items (pipeline/decontam/).

The eval sets are read and their n-gram index built once, on the driver, and broadcast: each Python
worker unpickles it once (jobs/rowwise.py), no task re-reads the files. `write_stage` writes kept,
rejected (`decontam.<eval set>`) and stats, plus the contamination report tables
(`OUT/stats/decontam_items.parquet`, `decontam_sets.parquet`; pipeline/decontam/report.py).
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from jobs.frames import read_parquet
from jobs.output import write_stage
from jobs.rowwise import run_rowwise
from pipeline.decontam.report import items_table, sets_table
from pipeline.decontam.stage import DecontamStage, build_eval_index

STAGE = DecontamStage.name


def check_eval_sets(cfg: dict[str, Any]) -> None:
    """A missing or malformed eval set fails here, in one line (a ConfigError), before Spark starts."""
    build_eval_index(cfg["decontam"])


def matched_items(full) -> list[dict]:
    """Per benchmark item found: documents overlapping it and the smallest URL among them."""
    from pyspark.sql import functions as F

    exploded = full.select("doc_id", "url", F.explode("decontam_items").alias("m"))
    grouped = exploded.groupBy(F.col("m.eval_set").alias("eval_set"), F.col("m.item").alias("item")).agg(
        F.countDistinct("doc_id").alias("docs_matched"), F.min("url").alias("example_url")
    )
    return [r.asDict() for r in grouped.collect()]


def docs_per_set(full) -> dict[str, int]:
    from pyspark.sql import functions as F

    exploded = full.select("doc_id", F.explode("decontam_items.eval_set").alias("eval_set"))
    grouped = exploded.groupBy("eval_set").agg(F.countDistinct("doc_id").alias("docs"))
    return {r["eval_set"]: r["docs"] for r in grouped.collect()}


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    section = cfg["decontam"]
    index = build_eval_index(section)
    stage = DecontamStage(section, index)  # the driver's copy: rules and line rules of this config
    shared = spark.sparkContext.broadcast(index)
    report: dict[str, pa.Table] = {}

    def items(full) -> pa.Table:
        if "items" not in report:
            report["items"] = items_table(matched_items(full))
        return report["items"]

    def sets(full) -> pa.Table:
        return sets_table(index.sets, items(full), docs_per_set(full))

    try:
        df = run_rowwise(read_parquet(spark, inp), DecontamStage, section, shared=shared)
        return write_stage(
            df,
            out,
            STAGE,
            rules=list(stage.rules),
            line_rules=dict(stage.line_rules),
            extra_tables={"items": items, "sets": sets},
        )
    finally:
        shared.unpersist()
