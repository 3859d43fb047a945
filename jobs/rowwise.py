"""Running a row-wise `pipeline.stage.Stage` on Spark through `mapInArrow`.

A stage whose registry row names its `Stage` class (`pipeline/stages.py`, `stage=`) needs no job
module: `run` here reads its input, applies it and writes its kept, rejected and stats outputs, and
`stage_step` makes it one step of a fused pass (extract + filter).

The stage class travels to executors by reference (its module is part of the installed package).
One instance is built per Python worker process and config, so heavy resources (blocklists, models)
load once per executor, not once per batch.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from jobs.frames import arrow_schema, read_parquet, spark_schema
from jobs.output import StageStep, write_stages
from pipeline import stages
from pipeline.schema import conform, with_signals
from pipeline.stage import Stage

_INSTANCES: dict[tuple[type, str, int | None], Any] = {}


def _instance(stage_cls: type[Stage], cfg_json: str, shared=None):
    key = (stage_cls, cfg_json, None if shared is None else id(shared))  # one broadcast object per worker
    if key not in _INSTANCES:
        extra = () if shared is None else (shared.value,)
        _INSTANCES[key] = stage_cls(json.loads(cfg_json), *extra)
    return _INSTANCES[key]


def rowwise_transform(
    stage_cls: type[Stage], cfg_section: dict[str, Any], out_schema: pa.Schema, shared=None
):
    """The per-partition function of the stage: batches in, transformed batches (`out_schema`) out.

    `shared` is an optional Spark broadcast built on the driver (e.g. decontam's n-gram index): its
    value is the stage constructor's second argument, read once per worker process.
    """
    cfg_json = json.dumps(cfg_section, sort_keys=True)

    def apply_partition(batches):
        stage = _instance(stage_cls, cfg_json, shared)
        for batch in batches:
            if batch.num_rows:
                yield conform(stage.apply(batch), out_schema)

    return apply_partition


def rowwise_step(stage_cls: type[Stage], cfg_section: dict[str, Any], in_schema: pa.Schema) -> StageStep:
    """The stage as one step of a `jobs.output.write_stages` pass over batches of `in_schema`."""
    out_schema = with_signals(in_schema, stage_cls.signals)
    return StageStep(
        name=stage_cls.name,
        schema=out_schema,
        rules=tuple(stage_cls.rules),
        transform=rowwise_transform(stage_cls, cfg_section, out_schema),
        line_rules=dict(stage_cls.line_rules),
    )


def run_rowwise(df, stage_cls: type[Stage], cfg_section: dict[str, Any], shared=None):
    """`df` transformed by the stage: same rows, signal columns added, `drop_reason` set on rejects."""
    out_schema = with_signals(arrow_schema(df), stage_cls.signals)
    transform = rowwise_transform(stage_cls, cfg_section, out_schema, shared)
    return df.mapInArrow(transform, spark_schema(out_schema))


def stage_step(name: str, cfg: dict[str, Any], in_schema: pa.Schema) -> StageStep:
    """The registry's row-wise stage `name` as a step of a pass over documents of `in_schema`."""
    spec = stages.spec(name)
    return rowwise_step(stages.resolve(spec.stage), cfg[spec.reads[0]], in_schema)


def run(spark, cfg: dict[str, Any], inp: str, out: str, *, stage: str) -> list[dict]:
    """The job of any row-wise stage of the registry (`pipeline.stages.runner` names it)."""
    docs = read_parquet(spark, inp)
    return write_stages(docs, [stage_step(stage, cfg, arrow_schema(docs))], out)[stage]
