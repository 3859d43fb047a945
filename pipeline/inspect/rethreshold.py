"""Re-thresholding a declared rule from stored signals, without re-running the crawl.

Every stage keeps its signals on kept and rejected rows alike, so moving a document-level threshold
is a question about two sets: kept documents that the new threshold would drop, and documents this
rule dropped that the new threshold would keep (they still face the rules after it, which the
answer says). The comparison is the rule's own (`pipeline.rules.Rule.fails`).

A line rule cuts lines from kept documents. Moving its threshold restores cut lines whose stored
value now passes, and cuts lines of the kept text whose value now fails (where the rule's value can
be measured on one line); the documents stay, so the answer is in lines.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.rules import Rule


@dataclass(frozen=True)
class Change:
    newly_dropped_docs: int = 0
    newly_dropped_words: int = 0
    newly_kept_docs: int = 0  # rejected by this rule before; pass it now (later rules not re-checked)
    newly_kept_words: int = 0
    newly_cut_lines: int = 0  # line rules: lines of kept documents the new threshold cuts as well
    restored_lines: int = 0  # line rules: lines it cut that the new threshold keeps

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def columns_needed(rule: Rule) -> list[str]:
    """The stored columns `rethreshold` reads for `rule`."""
    cols = ["doc_id", "text", "drop_reason"]
    if rule.signal:
        cols.append(rule.signal)
    if rule.line:
        cols.append(rule.line.lines)
    if rule.scope:
        cols.append(rule.scope[0])
    return cols


def rethreshold(docs: pd.DataFrame, rule: Rule, new_setting: Any, cfg: dict[str, Any]) -> Change:
    """Effect of setting `rule.key` to `new_setting` in the run made with config `cfg`.

    `docs` holds kept and rejected rows of the rule's stage (`columns_needed(rule)`); `new_setting`
    is written as in the config: a number, or true/false for a flag rule's switch.
    """
    new_limit = rule.limit(new_setting)
    if rule.line is not None:
        return _line_change(docs, rule, new_limit, rule.limit_of(cfg))
    words = docs["text"].fillna("").str.split().str.len()
    failing = rule.fails(docs[rule.signal].to_numpy(), new_limit)
    kept = docs["drop_reason"].isna().to_numpy()
    by_rule = (docs["drop_reason"] == rule.reason).to_numpy()
    if rule.scope:  # rows the rule drops whatever the threshold stay dropped
        column, decides = rule.scope
        by_rule &= np.array([bool(decides(v, cfg)) for v in docs[column]], dtype=bool)
    newly_dropped = kept & failing
    newly_kept = by_rule & ~failing
    return Change(
        newly_dropped_docs=int(newly_dropped.sum()),
        newly_dropped_words=int(words[newly_dropped].sum()),
        newly_kept_docs=int(newly_kept.sum()),
        newly_kept_words=int(words[newly_kept].sum()),
    )


def _line_change(docs: pd.DataFrame, rule: Rule, new_limit: Any, current_limit: Any) -> Change:
    kept = docs[docs["drop_reason"].isna()]
    if rule.signal:  # numeric: the values of the lines it cut are stored
        values = [v for row in kept[rule.signal].dropna() for v in row]
        restored = int((~rule.fails(np.asarray(values), new_limit)).sum()) if values else 0
    else:  # a flag rule: switched off, every line it cut comes back
        restored = int(kept[rule.line.lines].fillna(0).sum()) if new_limit is None else 0
    cut = 0
    if rule.line.value is not None and new_limit is not None:
        lines = [s for text in kept["text"].dropna() for s in (x.strip() for x in text.split("\n")) if s]
        values = np.asarray([rule.line.value(s) for s in lines])
        # lines the current setting leaves alone (they are kept) but the new one cuts
        cut = int((rule.fails(values, new_limit) & ~rule.fails(values, current_limit)).sum()) if lines else 0
    return Change(newly_cut_lines=cut, restored_lines=restored)
