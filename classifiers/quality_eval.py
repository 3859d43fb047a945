"""Does a quality signal agree with human judgement better than document length does?

The yardstick is DCLM's human high/low quality labels (../shared/data/quality_human_labels_dclm,
developer half; never trained on). Anything chosen by looking at the labels (a combination weight,
a recipe) is chosen on the TUNE part and reported on the REPORT part, split by a hash of the text
so every reader gets the same parts. The rule for the default selection (configs/default.yaml,
`quality.selection`): a score may drop documents only if it `beats_length` on the REPORT part.
"""

from __future__ import annotations

import hashlib

import numpy as np

from classifiers.quality import roc_auc

TUNE, REPORT = 0, 1
BOOTSTRAP_ROUNDS = 2000


def label_part(text: str) -> int:
    """TUNE or REPORT. The dataset's own developer/held-back split used bit 0 of sha1(text), so
    every text here has it even; bit 1 splits the developer half again."""
    return (int(hashlib.sha1(text.encode("utf-8")).hexdigest(), 16) >> 1) & 1


# --- the trivial baselines -----------------------------------------------------------------------
def length_score(texts) -> np.ndarray:
    return np.array([len(t) for t in texts], dtype=np.float64)


def line_punct_score(texts) -> np.ndarray:
    """Share of non-empty lines ending in terminal punctuation (as FineWeb's line-punct rule counts)."""
    out = []
    for t in texts:
        lines = [ln.rstrip() for ln in t.splitlines() if ln.strip()]
        out.append(np.mean([ln.endswith((".", "!", "?", '"')) for ln in lines]) if lines else 0.0)
    return np.array(out, dtype=np.float64)


# --- intervals -----------------------------------------------------------------------------------
def _resamples(n: int, rounds: int, seed: int):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, n, n) for _ in range(rounds))


def bootstrap_auc(labels, scores, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the ROC AUC (documents resampled with replacement)."""
    y, s = np.asarray(labels, dtype=bool), np.asarray(scores, dtype=np.float64)
    aucs = [roc_auc(y[i], s[i]) for i in _resamples(len(y), rounds, seed)]
    return float(np.nanpercentile(aucs, 2.5)), float(np.nanpercentile(aucs, 97.5))


def paired_auc_difference(
    labels, scores, baseline, rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> tuple[float, float, float]:
    """AUC(scores) - AUC(baseline) and its 95% interval, both scored on the same resampled documents."""
    y = np.asarray(labels, dtype=bool)
    a, b = np.asarray(scores, dtype=np.float64), np.asarray(baseline, dtype=np.float64)
    diffs = [roc_auc(y[i], a[i]) - roc_auc(y[i], b[i]) for i in _resamples(len(y), rounds, seed)]
    lo, hi = np.nanpercentile(diffs, [2.5, 97.5])
    return roc_auc(y, a) - roc_auc(y, b), float(lo), float(hi)


def beats_length(labels, scores, texts) -> bool:
    """True when the score's AUC exceeds document length's with the whole 95% interval above zero."""
    _, lo, _ = paired_auc_difference(labels, scores, length_score(texts))
    return lo > 0


# --- combination ---------------------------------------------------------------------------------
def zscore(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return (v - np.nanmean(v)) / (np.nanstd(v) or 1.0)


def tune_weight(labels, a, b, grid: int = 21) -> float:
    """The weight w in [0, 1] of w * z(a) + (1 - w) * z(b) with the best AUC (first best on ties)."""
    za, zb = zscore(a), zscore(b)
    weights = np.linspace(0.0, 1.0, grid)
    aucs = [roc_auc(labels, w * za + (1 - w) * zb) for w in weights]
    return float(weights[int(np.nanargmax(aucs))])
