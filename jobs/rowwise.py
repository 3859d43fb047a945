"""Running a row-wise `pipeline.stage.Stage` on Spark through `mapInArrow`.

The stage class travels to executors by reference (its module is part of the installed package).
One instance is built per Python worker process and config, so heavy resources (blocklists, models)
load once per executor, not once per batch.
"""

from __future__ import annotations

import json
from typing import Any

from jobs.frames import arrow_schema, spark_schema
from pipeline.schema import conform, with_signals
from pipeline.stage import Stage

_INSTANCES: dict[tuple[type, str, int | None], Any] = {}


def _instance(stage_cls: type[Stage], cfg_json: str, shared=None):
    key = (stage_cls, cfg_json, None if shared is None else id(shared))  # one broadcast object per worker
    if key not in _INSTANCES:
        extra = () if shared is None else (shared.value,)
        _INSTANCES[key] = stage_cls(json.loads(cfg_json), *extra)
    return _INSTANCES[key]


def run_rowwise(df, stage_cls: type[Stage], cfg_section: dict[str, Any], shared=None):
    """`df` transformed by the stage: same rows, signal columns added, `drop_reason` set on rejects.

    `shared` is an optional Spark broadcast built on the driver (e.g. decontam's n-gram index): its
    value is the stage constructor's second argument, read once per worker process.
    """
    out_schema = with_signals(arrow_schema(df), stage_cls.signals)
    cfg_json = json.dumps(cfg_section, sort_keys=True)

    def apply_partition(batches):
        stage = _instance(stage_cls, cfg_json, shared)
        for batch in batches:
            yield conform(stage.apply(batch), out_schema)

    return df.mapInArrow(apply_partition, spark_schema(out_schema))
