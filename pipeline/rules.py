"""A thresholded rule, declared once: what it measures, which config key sets it, which way it cuts.

Every stage declares its thresholded rules as `Rule` values next to the code that measures them
(`pipeline/filters/gopher.py`, `c4.py`, ...). The same declaration drives the filter itself
(`Rule.fails`), the stats and the report's threshold lines, re-thresholding from stored signals
(`pipeline/inspect/rethreshold.py`), the run diff and the rule table of docs/stats.md; the list of
every declaration is `pipeline.inspect.declared.DECLARED_RULES`.

Directions (`keep_if`), comparing a value with the configured threshold:
- ">=" keeps values at or above it (a minimum), "<=" keeps values at or below it (a maximum);
- "==" marks a flag rule: the signal is a yes/no fact measured on every document (or line), the
  config key is the rule's on/off switch, and a document (line) is kept while the fact is false.

A null threshold, or a flag rule switched off, turns the rule off: it then rejects nothing.

A line rule (`line` set) cuts lines from documents instead of rejecting them. Its per-line value is
`line.value(line)`; the stage stores, per document, the lines and characters it cut (`line.lines`,
`line.chars`) and, for a numeric rule, the values of the lines it cut (`signal`, a list column), so
moving the threshold either way can be answered from the stored output.

Comparisons run in the stored signal's precision: a float32 signal is compared with the threshold
rounded to float32, so a decision made by the stage and one re-made from the stored value agree.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

KEEP_IF = (">=", "<=", "==")


@dataclass(frozen=True)
class LineRule:
    value: Callable[[str], Any] | None  # the per-line value judged; None: not measurable from one line
    lines: str  # int64 column: lines this rule cut from the document
    chars: str  # int64 column: characters this rule cut from the document


@dataclass(frozen=True)
class Rule:
    stage: str
    name: str  # the rule's name within its stage; rejected rows get drop_reason "<stage>.<name>"
    key: str  # dotted config key: the threshold, or for a flag rule its on/off switch
    keep_if: str  # ">=", "<=" or "=="
    signal: str | None  # the stored column the threshold applies to (see the module docstring)
    source: str  # paper or rule set the threshold comes from
    line: LineRule | None = None
    # Where the threshold decides, when the rule also rejects on something else: (column,
    # predicate(value, run config)). The language rule drops a language outside `lang_keep`
    # whatever its score; only rows in a kept language are the score threshold's to decide.
    scope: tuple[str, Callable[[Any, dict[str, Any]], bool]] | None = None

    def __post_init__(self):
        if self.keep_if not in KEEP_IF:
            raise ValueError(f"rule {self.reason}: keep_if must be one of {KEEP_IF}, got {self.keep_if!r}")

    @property
    def reason(self) -> str:
        return f"{self.stage}.{self.name}"

    @property
    def leaf(self) -> str:
        """The key inside the config section the stage is built from."""
        return self.key.rpartition(".")[2]

    def limit(self, setting: Any) -> Any:
        """The value compared with the signal, given the configured setting; None = rule off."""
        if self.keep_if == "==":
            return False if setting else None
        return setting

    def limit_in(self, section: dict[str, Any]) -> Any:
        """`limit` read from the stage's own config section (the families get only theirs)."""
        return self.limit(section.get(self.leaf))

    def limit_of(self, cfg: dict[str, Any]) -> Any:
        """`limit` read from a whole run config."""
        return self.limit(setting_of(cfg, self.key))

    def fails(self, values, limit) -> np.ndarray:
        """Per value: does it fail the rule at `limit`? Nulls (NaN, None) never fail."""
        values = np.asarray(values)
        if limit is None or values.size == 0:
            return np.zeros(values.shape, dtype=bool)
        if values.dtype == object:  # nullable booleans / ints read back by pandas
            known = np.array([v is not None and v == v for v in values], dtype=bool)
            filled = np.where(known, values, limit).astype(type(limit) if isinstance(limit, bool) else float)
            return known & self.fails(filled, limit)
        if values.dtype == np.float32:
            limit = np.float32(limit)
        with np.errstate(invalid="ignore"):
            if self.keep_if == ">=":
                return values < limit
            if self.keep_if == "<=":
                return values > limit
            return values != limit

    def fails_one(self, value, limit) -> bool:
        """Scalar form of `fails`, for per-line decisions inside a stage."""
        if limit is None or value is None:
            return False
        if self.keep_if == ">=":
            return value < limit
        if self.keep_if == "<=":
            return value > limit
        return value != limit


def setting_of(cfg: dict[str, Any], dotted: str) -> Any:
    """The config value at a dotted key; None when a part is missing."""
    node: Any = cfg
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def names(rules: tuple[Rule, ...]) -> tuple[str, ...]:
    """Document-level rule names, in declaration order (the order a stage applies them)."""
    return tuple(r.name for r in rules if r.line is None)


def line_columns(rules: tuple[Rule, ...]) -> dict[str, tuple[str, str]]:
    """Line rule name -> (lines column, chars column), as the stats writer wants them."""
    return {r.name: (r.line.lines, r.line.chars) for r in rules if r.line is not None}
