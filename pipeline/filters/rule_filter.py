"""The shape every heuristic rule family shares (Gopher quality, Gopher repetition, C4, FineWeb).

A family declares each signal once, as a named, typed Arrow field (`signals`, built next to the
rules that read them where a rule reads it) and its thresholded rules once (`RULES`,
`pipeline.rules.Rule`). It measures each document once: `measure(stats)` returns a dict from signal
name to value, so a value cannot land in another signal's column, and a missing one is a KeyError.
`failures` applies every document-level rule to the measured columns. `apply` stores every signal
for every row, rejected rows included, so a notebook can re-threshold, and names the first failing
rule as `filter.<rule>`.

`apply` takes an optional list of `DocStats` so the composite `FilterStage` splits each text once
for all families.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.filters.text_stats import DocStats
from pipeline.rules import Rule
from pipeline.schema import set_column
from pipeline.settings import Section
from pipeline.stage import Stage, first_failure


class RuleFilter(Stage):
    name: ClassVar[str] = "filter"
    RULES: ClassVar[tuple[Rule, ...]] = ()
    Settings: ClassVar[type[Section]]  # the family's config sub-section, `filter.<section>`
    section: ClassVar[str] = ""  # its key under `filter:` (Settings.PATH less "filter.")

    def __init__(self, cfg: dict[str, Any]):
        super().__init__(cfg or {})
        self.signal_names = tuple(field.name for field in self.signals)

    def measure(self, stats: DocStats) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def failures(self, columns: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
        """(rule, failed per row) for every document-level rule, in declaration order."""
        return [
            (rule.name, rule.fails(columns[rule.signal], rule.limit_in(self.cfg)))
            for rule in self.RULES
            if rule.line is None
        ]

    def apply(self, batch: pa.RecordBatch, stats: list[DocStats] | None = None) -> pa.RecordBatch:
        if stats is None:
            stats = [DocStats(t) for t in batch.column("text").to_pylist()]
        rows = [self.measure(s) for s in stats]
        columns = {}
        for field in self.signals:
            values = [row[field.name] for row in rows]
            batch = set_column(batch, field.name, values, field.type)
            # Rules judge the values as stored (float32 stays float32), so a re-threshold from the
            # stored signals reproduces every decision.
            if pa.types.is_boolean(field.type):  # a flag left null (not measured) never fails
                columns[field.name] = np.array([v is True for v in values], dtype=bool)
            elif pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
                columns[field.name] = batch.column(field.name).to_numpy(zero_copy_only=False)
        failed = [(rule, np.asarray(mask, dtype=bool).tolist()) for rule, mask in self.failures(columns)]
        return self.after(first_failure(batch, self.name, failed), rows)

    def after(self, batch: pa.RecordBatch, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        """Hook run once the rows are judged; `rows` may carry values beyond the declared signals."""
        return batch
