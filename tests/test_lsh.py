"""LSH banding: parameters like datasketch's MinHashLSH, and bucket hashes that match exact bands."""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHashLSH

from pipeline.dedup.lsh import band_hashes, bands_rows, collision_probability, optimal_bands_rows


@pytest.mark.parametrize("threshold", [0.5, 0.7, 0.8, 0.9])
def test_optimal_params_match_datasketch(threshold):
    lsh = MinHashLSH(threshold=threshold, num_perm=112)
    assert optimal_bands_rows(threshold, 112, 0.5, 0.5) == (lsh.b, lsh.r)


def test_fineweb_default_and_validation():
    cfg = {"num_perm": 112, "bands": 14, "rows": 8, "threshold": None, "fp_weight": 0.5, "fn_weight": 0.5}
    assert bands_rows(cfg) == (14, 8)
    assert bands_rows({**cfg, "threshold": 0.8}) == optimal_bands_rows(
        0.8, 112, cfg["fp_weight"], cfg["fn_weight"]
    )
    with pytest.raises(ValueError, match="num_perm"):
        bands_rows({**cfg, "bands": 15})
    # FineWeb's 14 x 8 S-curve: a 0.85-similar pair is almost always caught, a 0.5 one rarely.
    assert collision_probability(0.85, 14, 8) > 0.97
    assert collision_probability(0.5, 14, 8) < 0.06


def test_band_hashes_equal_iff_band_equal():
    rng = np.random.default_rng(0)
    sigs = rng.integers(0, 2**32, size=(50, 112), dtype=np.uint64).astype(np.uint32)
    sigs[1] = sigs[0]
    sigs[1, 8:] += 1  # only band 0 shared with doc 0
    sigs[2, 104:112] = sigs[3, 104:112]  # only the last band shared between docs 2 and 3
    sigs[4, 112 - 8 :] = sigs[4, :8]  # same values in different bands must not collide across bands
    h = band_hashes(sigs, 14, 8)
    assert h.shape == (50, 14) and h.dtype == np.int64
    assert h[0, 0] == h[1, 0] and not (h[0, 1:] == h[1, 1:]).any()
    assert h[2, 13] == h[3, 13] and not (h[2, :13] == h[3, :13]).any()
    exact = {(d, b) for d in range(50) for b in range(14)}
    pairs_by_hash = {(b, h[d, b]) for d, b in exact}
    pairs_by_value = {(b, sigs[d, b * 8 : b * 8 + 8].tobytes()) for d, b in exact}
    assert len(pairs_by_hash) == len(pairs_by_value)  # no spurious merges or splits
