"""Running a row-wise `pipeline.stage.Stage` on Spark through `mapInArrow`.

The stage class is named by its import path ("pipeline.filters.stage:FilterStage") so executors
import it from the installed package. One instance is built per Python worker process and config,
so heavy resources (blocklists, models) load once per executor, not once per batch.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from jobs.frames import arrow_schema, spark_schema
from pipeline.schema import conform, with_signals

_INSTANCES: dict[tuple[str, str], Any] = {}


def load_class(path: str):
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


def _instance(stage_path: str, cfg_json: str):
    key = (stage_path, cfg_json)
    if key not in _INSTANCES:
        _INSTANCES[key] = load_class(stage_path)(json.loads(cfg_json))
    return _INSTANCES[key]


def run_rowwise(df, stage_path: str, cfg_section: dict[str, Any]):
    """`df` transformed by the stage: same rows, signal columns added, `drop_reason` set on rejects."""
    stage_cls = load_class(stage_path)
    out_schema = with_signals(arrow_schema(df), stage_cls.signals)
    cfg_json = json.dumps(cfg_section, sort_keys=True)

    def apply_partition(batches):
        stage = _instance(stage_path, cfg_json)
        for batch in batches:
            yield conform(stage.apply(batch), out_schema)

    return df.mapInArrow(apply_partition, spark_schema(out_schema))
