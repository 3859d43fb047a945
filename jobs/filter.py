"""The filter stage on Spark: NSFW, heuristic quality and PII rules (pipeline/filters/stage.py)."""

from __future__ import annotations

from typing import Any

from jobs.output import write_stage
from jobs.rowwise import load_class, run_rowwise

STAGE_PATH = "pipeline.filters.stage:FilterStage"


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    stage_cls = load_class(STAGE_PATH)
    df = run_rowwise(spark.read.parquet(inp), STAGE_PATH, cfg["filter"])
    return write_stage(df, out, "filter", rules=list(stage_cls.rules), line_rules=dict(stage_cls.line_rules))
