"""LSH banding for MinHash signatures.

A signature of `bands * rows` values is cut into `bands` bands of `rows` values; two documents are
candidates when any band is identical. The probability of that for Jaccard similarity s is
`1 - (1 - s**rows) ** bands` (Mining of Massive Datasets, ch. 3). FineWeb uses 14 bands x 8 rows
(112 permutations), an S-curve centred near s = 0.72; `optimal_bands_rows` instead derives the pair
for a Jaccard threshold the way datasketch's `MinHashLSH` does (minimise the weighted areas of false
positives below and false negatives above the threshold).

Each band is reduced to one 64-bit bucket hash, so the banding itself is a group-by on
(band, bucket) -- what `jobs/dedup.py` does in Spark.
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.integrate import quad

from pipeline.dedup.minhash import fmix64

_BAND_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd golden-ratio constant


def collision_probability(s: float, bands: int, rows: int) -> float:
    """Probability that two documents with Jaccard similarity `s` share at least one band."""
    return 1.0 - (1.0 - s**rows) ** bands


def false_positive_area(threshold: float, bands: int, rows: int) -> float:
    return quad(lambda s: collision_probability(s, bands, rows), 0.0, threshold)[0]


def false_negative_area(threshold: float, bands: int, rows: int) -> float:
    return quad(lambda s: 1.0 - collision_probability(s, bands, rows), threshold, 1.0)[0]


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(
    threshold: float, num_perm: int, fp_weight: float, fn_weight: float
) -> tuple[int, int]:
    """(bands, rows) with bands * rows <= num_perm minimising the weighted FP + FN areas."""
    best, best_error = (1, 1), float("inf")
    for bands in range(1, num_perm + 1):
        for rows in range(1, num_perm // bands + 1):
            error = fp_weight * false_positive_area(threshold, bands, rows) + fn_weight * false_negative_area(
                threshold, bands, rows
            )
            if error < best_error:
                best, best_error = (bands, rows), error
    return best


def bands_rows(cfg: dict) -> tuple[int, int]:
    """The (bands, rows) a dedup config asks for: derived when `threshold` is set, else as given."""
    num_perm = int(cfg["num_perm"])
    if cfg.get("threshold") is not None:
        return optimal_bands_rows(float(cfg["threshold"]), num_perm, cfg["fp_weight"], cfg["fn_weight"])
    bands, rows = int(cfg["bands"]), int(cfg["rows"])
    if bands * rows > num_perm or bands < 1 or rows < 1:
        raise ValueError(
            f"dedup.minhash: bands x rows = {bands} x {rows} must be >= 1 and <= num_perm {num_perm}"
        )
    return bands, rows


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) int64 bucket hashes: equal exactly when a band's `rows` values are equal
    (up to 64-bit hash collisions, ~n^2 / 2^65 over the corpus)."""
    n = signatures.shape[0]
    banded = signatures[:, : bands * rows].reshape(n, bands, rows).astype(np.uint64)
    acc = np.zeros((n, bands), dtype=np.uint64)
    for r in range(rows):  # polynomial over the band's values, then an avalanche
        acc = (acc ^ banded[:, :, r]) * _BAND_MULT
    return fmix64(acc).view(np.int64)
