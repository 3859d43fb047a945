"""The filter stage on Spark: NSFW, heuristic quality and PII rules (pipeline/filters/stage.py)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from jobs.frames import arrow_schema, read_parquet
from jobs.output import StageStep, write_stages
from jobs.rowwise import rowwise_step
from pipeline.filters.stage import FilterStage


def step(cfg: dict[str, Any], in_schema: pa.Schema) -> StageStep:
    """The filter stage as a step of a pass over documents of `in_schema` (alone, or after extract)."""
    return rowwise_step(FilterStage, cfg["filter"], in_schema)


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    docs = read_parquet(spark, inp)
    return write_stages(docs, [step(cfg, arrow_schema(docs))], out)["filter"]
