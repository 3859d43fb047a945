"""The contamination report: which benchmark items the crawl contains, and what share of each eval set.

- `OUT/stats/decontam_items.parquet`: one row per benchmark item found in the stage's input
  (eval set, item id or index, documents that overlap it, the smallest such URL as an example);
- `OUT/stats/decontam_sets.parquet`: one row per eval set (its n, items, items long enough to
  match, items found, and the fraction of its items found in the crawl).

Both count the documents that reached the stage, whatever the mode did with them.
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.decontam.ngrams import EvalSetInfo

ITEMS_SCHEMA = pa.schema(
    [
        ("eval_set", pa.string()),
        ("item", pa.string()),
        ("docs_matched", pa.int64()),
        ("example_url", pa.string()),
    ]
)
SETS_SCHEMA = pa.schema(
    [
        ("eval_set", pa.string()),
        ("ngram", pa.int32()),
        ("items", pa.int64()),
        ("items_matchable", pa.int64()),
        ("items_found", pa.int64()),
        ("fraction_found", pa.float64()),
        ("docs_matched", pa.int64()),
    ]
)


def items_table(rows: list[dict]) -> pa.Table:
    return pa.Table.from_pylist(sorted(rows, key=lambda r: (r["eval_set"], r["item"])), schema=ITEMS_SCHEMA)


def sets_table(sets: list[EvalSetInfo], items: pa.Table, docs_per_set: dict[str, int]) -> pa.Table:
    """Per eval set, the share of its items found, from the items table and the per-set document counts."""
    found: dict[str, int] = {}
    for name in items.column("eval_set").to_pylist():
        found[name] = found.get(name, 0) + 1
    rows = [
        {
            "eval_set": s.name,
            "ngram": s.n,
            "items": s.items,
            "items_matchable": s.matchable,
            "items_found": found.get(s.name, 0),
            "fraction_found": found.get(s.name, 0) / s.items if s.items else 0.0,
            "docs_matched": docs_per_set.get(s.name, 0),
        }
        for s in sets
    ]
    return pa.Table.from_pylist(rows, schema=SETS_SCHEMA)
