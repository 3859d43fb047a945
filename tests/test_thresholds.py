"""Every signal→threshold mapping points at a real config key, signal column and rule."""

from __future__ import annotations

import pytest

from pipeline.config import load_config
from pipeline.filters.stage import FilterStage
from pipeline.inspect.rethreshold import rethreshold
from pipeline.inspect.thresholds import SIGNAL_THRESHOLDS, threshold_for


@pytest.mark.parametrize("signal", sorted(SIGNAL_THRESHOLDS))
def test_mapping_resolves(signal):
    limit = threshold_for(signal, load_config())
    assert limit is not None, f"{signal}: config key {SIGNAL_THRESHOLDS[signal][0]} missing or not numeric"
    stage, _, rule = limit.reason.partition(".")
    if stage == "filter":
        assert signal in {f.name for f in FilterStage.signals}
        assert rule in FilterStage.rules


def test_rethreshold_counts_both_directions():
    import pandas as pd

    docs = pd.DataFrame(
        {
            "text": ["a b c", "a b c d e", "a", "a b c d e f g"],
            "drop_reason": [None, None, "filter.gopher_min_words", "filter.gopher_min_words"],
            "gopher_word_count": [3, 5, 1, 7],
        }
    )
    # min_words 4 -> 6: the 5-word kept doc is newly dropped; nothing dropped by the rule passes 6 except the 7-word one
    change = rethreshold(docs, "gopher_word_count", "filter.gopher_min_words", 6, ">=")
    assert change.as_dict() == {
        "newly_dropped_docs": 2,
        "newly_dropped_words": 8,
        "newly_kept_docs": 1,
        "newly_kept_words": 7,
    }
