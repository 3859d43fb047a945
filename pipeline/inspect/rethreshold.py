"""Re-thresholding a rule from stored signals, without re-running the crawl.

Every stage keeps its signals on kept and rejected rows alike, so moving a threshold is a question
about two sets: kept documents that the new threshold would drop, and documents this rule dropped
that the new threshold would keep (they still face the rules after it, which the answer says).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class Change:
    newly_dropped_docs: int
    newly_dropped_words: int
    newly_kept_docs: int  # rejected by this rule before; pass it now (later rules not re-checked)
    newly_kept_words: int

    def as_dict(self) -> dict:
        return self.__dict__.copy()


def fails(values: pd.Series, threshold: float, keep_if: str) -> pd.Series:
    """`keep_if` is ">=", ">", "<=" or "<": how a passing value compares with the threshold."""
    ops = {
        ">=": values < threshold,
        ">": values <= threshold,
        "<=": values > threshold,
        "<": values >= threshold,
    }
    if keep_if not in ops:
        raise ValueError(f"keep_if must be one of {sorted(ops)}, got {keep_if!r}")
    return ops[keep_if].fillna(False)


def rethreshold(docs: pd.DataFrame, signal: str, reason: str, threshold: float, keep_if: str) -> Change:
    """Effect of `signal keep_if threshold` replacing the current threshold of drop reason `reason`.

    `docs` holds kept and rejected rows of the stage with `drop_reason`, `text` and the signal.
    """
    words = docs["text"].fillna("").str.split().str.len()
    failing = fails(docs[signal], threshold, keep_if)
    kept = docs["drop_reason"].isna()
    by_rule = docs["drop_reason"] == reason
    newly_dropped = kept & failing
    newly_kept = by_rule & ~failing
    return Change(
        int(newly_dropped.sum()),
        int(words[newly_dropped].sum()),
        int(newly_kept.sum()),
        int(words[newly_kept].sum()),
    )
