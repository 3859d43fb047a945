"""The `filter` stage: NSFW, the heuristic rule families, then PII, over one record batch.

Families run in FineWeb's order (Penedo et al. 2024: Gopher repetition, Gopher quality, C4, FineWeb),
after the NSFW word filter and before PII replacement, so every heuristic sees the text as
extracted. Each family reads its own sub-section of the `filter:` config (`filter.c4`, ...) and is
skipped when that sub-section says `enabled: false` (its signal columns are then null).

`RULES`, `rules`, `line_rules` and `signals` are class attributes built at import time from the families,
because engines read them from the class (Spark needs the output schema before any batch runs).

Each text is split once (`DocStats`) and shared by all heuristic families; after C4 rewrites a
kept document, its split is rebuilt for the families that follow.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pyarrow as pa

from pipeline.filters.c4 import C4Filter
from pipeline.filters.fineweb import FineWebFilter
from pipeline.filters.gopher import GopherQualityFilter, GopherRepetitionFilter
from pipeline.filters.nsfw import NsfwFilter
from pipeline.filters.pii import PiiFilter
from pipeline.filters.rule_filter import RuleFilter
from pipeline.filters.text_stats import DocStats
from pipeline.rules import Rule, line_columns, names
from pipeline.schema import set_column
from pipeline.settings import Section
from pipeline.stage import Stage

# The families in the order they run; each declares its config sub-section (`Settings`, at `section`).
FAMILIES: tuple[type[Stage], ...] = (
    NsfwFilter,
    GopherRepetitionFilter,
    GopherQualityFilter,
    C4Filter,
    FineWebFilter,
    PiiFilter,
)


# The `filter:` section: one sub-section per family, declared by the family next to its rules.
FilterSettings = dataclasses.make_dataclass(
    "FilterSettings",
    [(cls.section, cls.Settings) for cls in FAMILIES],
    bases=(Section,),
    frozen=True,
    namespace={"PATH": "filter", "__module__": __name__},
)


def _unique(fields):
    """Signal fields by name, first declaration first (families may share a column)."""
    seen: dict = {}
    for field in fields:
        seen.setdefault(field.name, field)
    return tuple(seen.values())


class FilterStage(Stage):
    name: ClassVar[str] = "filter"
    Settings: ClassVar[type[Section]] = FilterSettings  # its config section (pipeline.settings reads it here)
    RULES: ClassVar[tuple[Rule, ...]] = tuple(rule for cls in FAMILIES for rule in cls.RULES)
    rules: ClassVar[tuple[str, ...]] = names(RULES)
    line_rules: ClassVar[dict[str, tuple[str, str]]] = line_columns(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = _unique(f for cls in FAMILIES for f in cls.signals)

    def __init__(self, cfg: dict[str, Any]):
        super().__init__(cfg or {})
        self.families: list[Stage] = []
        self.disabled: list[type] = []
        settings = FilterSettings.from_section(self.cfg)
        for cls in FAMILIES:
            if getattr(settings, cls.section).enabled:
                self.families.append(cls(self.cfg.get(cls.section) or {}))
            else:
                self.disabled.append(cls)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        stats = [DocStats(t) for t in texts]
        for family in self.families:
            if isinstance(family, RuleFilter):
                batch = family.apply(batch, stats)
            else:
                batch = family.apply(batch)
            new_texts = batch.column("text").to_pylist()
            if new_texts != texts:  # a family rewrote some texts: re-split only those
                stats = [s if new == old else DocStats(new) for s, new, old in zip(stats, new_texts, texts)]
                texts = new_texts
        for cls in self.disabled:
            for field in cls.signals:
                batch = set_column(batch, field.name, pa.nulls(batch.num_rows, field.type))
        return batch
