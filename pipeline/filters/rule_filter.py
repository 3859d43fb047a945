"""The shape every heuristic rule family shares (Gopher quality, Gopher repetition, C4, FineWeb).

A family measures each document once (`measure(stats) -> tuple`, one value per declared signal,
in `signals` order) and then turns thresholds into per-rule failures over whole columns
(`failures(columns)`). `apply` stores every signal for every row, rejected rows included, so a
notebook can re-threshold, and names the first failing rule as `filter.<rule>`.

`apply` takes an optional list of `DocStats` so the composite `FilterStage` splits each text once
for all families; a family that edits text (C4) says so with `edits_text = True`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.filters.text_stats import DocStats
from pipeline.schema import set_column
from pipeline.stage import Stage, first_failure


class RuleFilter(Stage):
    name: ClassVar[str] = "filter"
    section: ClassVar[str] = ""  # key under the `filter:` config section
    edits_text: ClassVar[bool] = False

    def __init__(self, cfg: dict[str, Any]):
        super().__init__(cfg or {})

    # --- what a family implements -------------------------------------------------------------
    def measure(self, stats: DocStats) -> tuple:  # pragma: no cover - interface
        raise NotImplementedError

    def failures(self, columns: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:  # pragma: no cover
        raise NotImplementedError

    # --- shared machinery ---------------------------------------------------------------------
    def threshold(self, key: str):
        """A configured threshold, or None when the key is absent or null (the rule is then off)."""
        return self.cfg.get(key)

    def below(self, values: np.ndarray, key: str) -> np.ndarray:
        limit = self.threshold(key)
        return values < limit if limit is not None else np.zeros(len(values), dtype=bool)

    def above(self, values: np.ndarray, key: str) -> np.ndarray:
        limit = self.threshold(key)
        return values > limit if limit is not None else np.zeros(len(values), dtype=bool)

    def apply(self, batch: pa.RecordBatch, stats: list[DocStats] | None = None) -> pa.RecordBatch:
        if stats is None:
            stats = [DocStats(t) for t in batch.column("text").to_pylist()]
        rows = [self.measure(s) for s in stats]
        columns = {}
        for idx, field in enumerate(self.signals):
            values = [row[idx] for row in rows]
            if pa.types.is_boolean(field.type):  # a flag left null (rule switched off) never fails
                columns[field.name] = np.array([v is True for v in values], dtype=bool)
            else:
                columns[field.name] = np.array(values, dtype=np.float64)
            batch = set_column(batch, field.name, values, field.type)
        failed = [(rule, np.asarray(mask, dtype=bool).tolist()) for rule, mask in self.failures(columns)]
        return self.after(first_failure(batch, self.name, failed), rows)

    def after(self, batch: pa.RecordBatch, rows: list[tuple]) -> pa.RecordBatch:
        """Hook run once the rows are judged; `rows` may carry values past the declared signals."""
        return batch
