"""Per-(stage, rule) statistics: how many documents and bytes reached each rule and how many it dropped.

Engines aggregate the document table into a few numbers (per drop_reason: documents and bytes; per
line-level rule: lines and characters removed); `rule_rows` turns them into the rows of
`OUT/stats/<stage>.parquet`. Rules are applied in order, so a rule's `docs_in` is what the earlier
rules left. Drop reasons a stage did not declare (e.g. pre-checks registered by later stages, bad
records) still get a row, after the declared ones, so no drop is ever invisible.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.schema import DOC_COLUMNS

STATS_SCHEMA = pa.schema(
    [
        pa.field("stage", pa.string()),
        pa.field("rule", pa.string()),  # "_total" for the whole stage, else the rule name
        pa.field("domain", pa.string()),  # null = all domains
        pa.field("docs_in", pa.int64()),
        pa.field("docs_dropped", pa.int64()),
        pa.field("bytes_in", pa.int64()),
        pa.field("bytes_dropped", pa.int64()),
        pa.field("lines_removed", pa.int64()),  # line-level rules: lines cut from kept documents
        pa.field("bytes_removed", pa.int64()),  # line-level rules: characters cut from kept documents
    ]
)
TOTAL = "_total"


def rule_name(stage: str, reason: str) -> str:
    prefix = f"{stage}."
    return reason[len(prefix) :] if reason.startswith(prefix) else reason


def rule_rows(
    stage: str,
    rules: list[str] | tuple[str, ...],
    dropped: dict[str, tuple[int, int]],
    total_docs: int,
    total_bytes: int,
    line_totals: dict[str, tuple[int, int]] | None = None,
) -> list[dict]:
    """Stats rows for one stage.

    `dropped` maps a drop_reason to (documents, bytes); `line_totals` maps a line-level rule to
    (lines removed, characters removed).
    """
    by_rule = {rule_name(stage, reason): v for reason, v in dropped.items() if reason is not None}
    ordered = list(rules) + sorted(r for r in by_rule if r not in rules)
    rows = []
    docs_left, bytes_left = total_docs, total_bytes
    for rule in ordered:
        docs, nbytes = by_rule.get(rule, (0, 0))
        rows.append(_row(stage, rule, docs_left, docs, bytes_left, nbytes))
        docs_left -= docs
        bytes_left -= nbytes
    for rule, (lines, chars) in (line_totals or {}).items():
        row = _row(stage, rule, docs_left, 0, bytes_left, 0)
        row.update(lines_removed=int(lines), bytes_removed=int(chars))
        rows.append(row)
    total = _row(stage, TOTAL, total_docs, total_docs - docs_left, total_bytes, total_bytes - bytes_left)
    total["lines_removed"] = sum(int(v[0]) for v in (line_totals or {}).values())
    total["bytes_removed"] = sum(int(v[1]) for v in (line_totals or {}).values())
    return [total, *rows]


def _row(stage: str, rule: str, docs_in: int, docs_dropped: int, bytes_in: int, bytes_dropped: int) -> dict:
    return {
        "stage": stage,
        "rule": rule,
        "domain": None,
        "docs_in": int(docs_in),
        "docs_dropped": int(docs_dropped),
        "bytes_in": int(bytes_in),
        "bytes_dropped": int(bytes_dropped),
        "lines_removed": 0,
        "bytes_removed": 0,
    }


def stats_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(rows, schema=STATS_SCHEMA)


# --- counting a stage's output as it streams past ------------------------------------------------
# The breakdown table's keys (docs/stats.md); drop_reason null = kept.
BREAKDOWN_KEYS = ("drop_reason", "domain", "lang", "host_suffix")
BREAKDOWN_DEFAULTS = {"domain": "unassigned", "lang": "unknown", "host_suffix": "unknown"}
# Numeric columns that are provenance, not signals: no histogram is drawn for them.
NOT_SIGNALS = (set(DOC_COLUMNS) - {"lang_score", "quality_score"}) | {"warc_offset", "http_status"}


def signal_columns(schema: pa.Schema) -> list[str]:
    """The numeric signal columns of a stage output, the ones its histograms bin."""
    numeric = (pa.types.is_integer, pa.types.is_floating)
    return [f.name for f in schema if any(t(f.type) for t in numeric) and f.name not in NOT_SIGNALS]


def _host_suffix(host: str | None) -> str:
    suffix = (host or "").rpartition(".")[2] if "." in (host or "") else ""
    return suffix or BREAKDOWN_DEFAULTS["host_suffix"]


class StageCounts:
    """Exact, mergeable counts of one stage's output, filled batch by batch as the rows are written.

    Per drop reason: documents and bytes (the stats rows); per line-level rule: lines and characters
    removed from kept documents; per breakdown key: documents, characters and words (words = pieces
    of `str.split()`, as the re-threshold preview counts them); per signal column: min and max (the
    histogram bin edges). Each task fills one; the driver merges them, so no count needs its own
    pass over the data.
    """

    def __init__(self, size_col: str, line_rules: dict[str, tuple[str, str]], signals: list[str]):
        self.size_col, self.line_rules, self.signals = size_col, line_rules, signals
        self.reasons: dict[str | None, list[int]] = {}
        self.lines: dict[str, list[int]] = {rule: [0, 0] for rule in line_rules}
        self.breakdown: dict[tuple, list[int]] = {}
        self.bounds: dict[str, list[float]] = {}

    def add(self, batch: pa.RecordBatch) -> None:
        import pyarrow.compute as pc

        n = batch.num_rows
        if not n:
            return
        cols = batch.schema.names

        def column(name: str) -> list:
            return batch.column(name).to_pylist() if name in cols else [None] * n

        reasons, texts = column("drop_reason"), column("text")
        size = batch.column(self.size_col) if self.size_col in cols else pa.nulls(n, pa.int64())
        if pa.types.is_string(size.type) or pa.types.is_large_string(size.type):
            size = pc.binary_length(size)
        sizes = size.to_pylist()
        domains, langs, hosts = column("domain"), column("lang"), column("host")
        for i in range(n):
            reason, text = reasons[i], texts[i] or ""
            by_reason = self.reasons.setdefault(reason, [0, 0])
            by_reason[0] += 1
            by_reason[1] += sizes[i] or 0
            key = (
                reason,
                domains[i] or BREAKDOWN_DEFAULTS["domain"],
                langs[i] or BREAKDOWN_DEFAULTS["lang"],
                _host_suffix(hosts[i]),
            )
            acc = self.breakdown.setdefault(key, [0, 0, 0])
            acc[0] += 1
            acc[1] += len(text)
            acc[2] += len(text.split())
        if self.line_rules:
            kept = batch.filter(pc.is_null(batch.column("drop_reason")))
            for rule, (lines_col, chars_col) in self.line_rules.items():
                self.lines[rule][0] += int(pc.sum(kept.column(lines_col)).as_py() or 0)
                self.lines[rule][1] += int(pc.sum(kept.column(chars_col)).as_py() or 0)
        for name in self.signals:
            lo, hi = pc.min_max(batch.column(name)).values()  # nulls and NaN skipped
            if lo.as_py() is not None:
                self._widen(name, lo.as_py(), hi.as_py())

    def merge(self, other: StageCounts) -> None:
        for reason, (docs, nbytes) in other.reasons.items():
            acc = self.reasons.setdefault(reason, [0, 0])
            acc[0] += docs
            acc[1] += nbytes
        for rule, (lines, chars) in other.lines.items():
            self.lines[rule][0] += lines
            self.lines[rule][1] += chars
        for key, values in other.breakdown.items():
            acc = self.breakdown.setdefault(key, [0, 0, 0])
            for j, v in enumerate(values):
                acc[j] += v
        for name, (lo, hi) in other.bounds.items():
            self._widen(name, lo, hi)

    def _widen(self, name: str, lo: float, hi: float) -> None:
        """Make signal `name`'s bounds cover [lo, hi]."""
        seen = self.bounds.get(name)
        self.bounds[name] = [min(lo, seen[0]), max(hi, seen[1])] if seen else [lo, hi]

    def to_json(self) -> dict:
        return {
            "reasons": [[r, *v] for r, v in self.reasons.items()],
            "lines": self.lines,
            "breakdown": [[*k, *v] for k, v in self.breakdown.items()],
            "bounds": self.bounds,
        }

    def load_json(self, data: dict) -> StageCounts:
        self.reasons = {r: [d, b] for r, d, b in data["reasons"]}
        self.lines = {rule: list(v) for rule, v in data["lines"].items()}
        self.breakdown = {tuple(row[:4]): list(row[4:]) for row in data["breakdown"]}
        self.bounds = {name: list(v) for name, v in data["bounds"].items()}
        return self

    def stats_rows(self, stage: str, rules: list[str] | tuple[str, ...]) -> list[dict]:
        dropped = {r: (d, b) for r, (d, b) in self.reasons.items() if r is not None}
        total_docs = sum(d for d, _ in self.reasons.values())
        total_bytes = sum(b for _, b in self.reasons.values())
        lines = {rule: tuple(v) for rule, v in self.lines.items()}
        return rule_rows(stage, rules, dropped, total_docs, total_bytes, lines)

    def breakdown_table(self, stage: str) -> pa.Table:
        """OUT/stats/<stage>_breakdown.parquet, rows in key order (kept first)."""
        keys = sorted(self.breakdown, key=lambda k: tuple((v is not None, v or "") for v in k))
        rows = [
            {
                "stage": stage,
                **dict(zip(BREAKDOWN_KEYS, k)),
                **dict(zip(("docs", "chars", "words"), self.breakdown[k])),
            }
            for k in keys
        ]
        return pa.Table.from_pylist(rows, schema=BREAKDOWN_SCHEMA)


BREAKDOWN_SCHEMA = pa.schema(
    [("stage", pa.string())]
    + [(k, pa.string()) for k in BREAKDOWN_KEYS]
    + [("docs", pa.int64()), ("chars", pa.int64()), ("words", pa.int64())]
)
