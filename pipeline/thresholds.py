"""Which config key thresholds which signal, and in which direction.

Used to draw threshold lines on the report's histograms and to re-threshold a rule in a notebook.
`keep_if` says how a passing value compares with the threshold (">=" keeps values at or above it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import load_config, section


@dataclass(frozen=True)
class Threshold:
    signal: str
    key: str  # dotted config key
    keep_if: str
    value: float
    reason: str  # the drop_reason the rule writes


# signal column -> (config key, keep_if, drop_reason)
SIGNAL_THRESHOLDS: dict[str, tuple[str, str, str]] = {
    "lang_score": ("extract.lang_min_score", ">=", "extract.lang_filter"),
}


def run_config(out: str | Path | None) -> dict[str, Any]:
    """The resolved config a run was made with (OUT/config.yaml), else the defaults."""
    path = Path(out) / "config.yaml" if out else None
    if path and path.exists():
        return yaml.safe_load(path.read_text())
    return load_config()


def threshold_for(signal: str, cfg: dict[str, Any] | None = None) -> Threshold | None:
    if signal not in SIGNAL_THRESHOLDS:
        return None
    key, keep_if, reason = SIGNAL_THRESHOLDS[signal]
    parent, _, leaf = key.rpartition(".")
    try:
        value = section(cfg or load_config(), parent)[leaf]
    except (KeyError, TypeError):
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    return Threshold(signal, key, keep_if, float(value), reason)
