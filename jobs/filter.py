"""The filter stage on Spark: NSFW, heuristic quality and PII rules (pipeline/filters/stage.py)."""

from __future__ import annotations

from typing import Any

from jobs.frames import read_parquet
from jobs.output import write_stage
from jobs.rowwise import run_rowwise
from pipeline.filters.stage import FilterStage


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    df = run_rowwise(read_parquet(spark, inp), FilterStage, cfg["filter"])
    return write_stage(
        df, out, "filter", rules=list(FilterStage.rules), line_rules=dict(FilterStage.line_rules)
    )
