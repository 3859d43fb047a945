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

_INSTANCES: dict[tuple[type, str], Any] = {}


def _instance(stage_cls: type[Stage], cfg_json: str):
    key = (stage_cls, cfg_json)
    if key not in _INSTANCES:
        _INSTANCES[key] = stage_cls(json.loads(cfg_json))
    return _INSTANCES[key]


def run_rowwise(df, stage_cls: type[Stage], cfg_section: dict[str, Any]):
    """`df` transformed by the stage: same rows, signal columns added, `drop_reason` set on rejects."""
    out_schema = with_signals(arrow_schema(df), stage_cls.signals)
    cfg_json = json.dumps(cfg_section, sort_keys=True)

    def apply_partition(batches):
        stage = _instance(stage_cls, cfg_json)
        for batch in batches:
            yield conform(stage.apply(batch), out_schema)

    return df.mapInArrow(apply_partition, spark_schema(out_schema))
