"""The stage protocol (DESIGN.md section 3).

A row-wise stage is a small class built from its config section:

    stage = SomeStage(cfg_section)
    out = stage.apply(batch)          # pyarrow.RecordBatch -> pyarrow.RecordBatch

`apply` keeps every row. It adds the stage's signal columns (declared in `signals`, so engines know
the output schema up front) and sets `drop_reason = "<stage>.<rule>"` on the rows it rejects. It
never touches rows whose `drop_reason` is already set except to add signals. Signals are computed
for every row, so a notebook can re-threshold any rule from the stored values.

`rules` lists the document-level rules in the order they are applied: the stats count, for each
rule, how many documents reached it and how many it dropped. `line_rules` maps a line-level rule
(one that edits text instead of dropping documents) to the two int64 signal columns holding the
lines and characters it removed per document.
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.schema import set_column


class Stage:
    name: ClassVar[str] = "stage"
    rules: ClassVar[tuple[str, ...]] = ()
    line_rules: ClassVar[dict[str, tuple[str, str]]] = {}
    signals: ClassVar[tuple[pa.Field, ...]] = ()

    def __init__(self, cfg: dict[str, Any]):
        self.cfg = cfg

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:  # pragma: no cover - interface
        raise NotImplementedError

    # --- helpers for subclasses -------------------------------------------------------------
    def reason(self, rule: str) -> str:
        return f"{self.name}.{rule}"


def first_failure(
    batch: pa.RecordBatch, stage_name: str, failures: list[tuple[str, list[bool]]]
) -> pa.RecordBatch:
    """Set `drop_reason` to the first failing rule (in list order) on rows not dropped before.

    `failures` is `[(rule_name, failed_per_row), ...]` in the stage's rule order.
    """
    current = batch.column("drop_reason").to_pylist()
    for i, reason in enumerate(current):
        if reason is not None:
            continue
        for rule, failed in failures:
            if failed[i]:
                current[i] = f"{stage_name}.{rule}"
                break
    return set_column(batch, "drop_reason", current, pa.string())


def kept_mask(batch: pa.RecordBatch) -> pa.Array:
    return pc.is_null(batch.column("drop_reason"))
