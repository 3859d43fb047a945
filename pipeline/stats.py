"""Per-(stage, rule) statistics: how many documents and bytes reached each rule and how many it dropped.

Engines aggregate the document table into a few numbers (per drop_reason: documents and bytes; per
line-level rule: lines and characters removed); `rule_rows` turns them into the rows of
`OUT/stats/<stage>.parquet`. Rules are applied in order, so a rule's `docs_in` is what the earlier
rules left. Drop reasons a stage did not declare (e.g. pre-checks registered by later stages, bad
records) still get a row, after the declared ones, so no drop is ever invisible.
"""

from __future__ import annotations

import pyarrow as pa

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
