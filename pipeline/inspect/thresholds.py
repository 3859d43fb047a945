"""Which config key thresholds which signal, and in which direction.

Used to draw threshold lines on the report's histograms and to re-threshold a rule in a notebook.
`keep_if` says how a passing value compares with the threshold (">=" keeps values at or above it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from pipeline import layout
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
    "nsfw_word_ratio": ("filter.nsfw.nsfw_word_ratio_max", "<=", "filter.nsfw_words"),
    **{
        f"gopher_{name}": (f"filter.gopher_repetition.{name}", "<=", f"filter.gopher_{rule}")
        for name, rule in [
            ("dup_line_frac", "dup_line_frac"),
            ("dup_para_frac", "dup_para_frac"),
            ("dup_line_char_frac", "dup_line_char_frac"),
            ("dup_para_char_frac", "dup_para_char_frac"),
            *[(f"top_{n}gram_char_frac", f"top_{n}gram") for n in (2, 3, 4)],
            *[(f"dup_{n}gram_char_frac", f"dup_{n}gram") for n in range(5, 11)],
        ]
    },
    "gopher_word_count": ("filter.gopher_quality.min_words", ">=", "filter.gopher_min_words"),
    "gopher_mean_word_length": (
        "filter.gopher_quality.min_mean_word_length",
        ">=",
        "filter.gopher_min_mean_word_length",
    ),
    "gopher_hash_word_ratio": (
        "filter.gopher_quality.max_symbol_word_ratio",
        "<=",
        "filter.gopher_hash_word_ratio",
    ),
    "gopher_ellipsis_word_ratio": (
        "filter.gopher_quality.max_symbol_word_ratio",
        "<=",
        "filter.gopher_ellipsis_word_ratio",
    ),
    "gopher_bullet_lines_frac": (
        "filter.gopher_quality.max_bullet_lines_frac",
        "<=",
        "filter.gopher_bullet_lines",
    ),
    "gopher_ellipsis_lines_frac": (
        "filter.gopher_quality.max_ellipsis_lines_frac",
        "<=",
        "filter.gopher_ellipsis_lines",
    ),
    "gopher_alpha_words_frac": (
        "filter.gopher_quality.min_alpha_words_frac",
        ">=",
        "filter.gopher_alpha_words",
    ),
    "gopher_stop_words": ("filter.gopher_quality.min_stop_words", ">=", "filter.gopher_stop_words"),
    "c4_sentences": ("filter.c4.min_num_sentences", ">=", "filter.c4_min_sentences"),
    "fineweb_line_punct_frac": ("filter.fineweb.min_line_punct_frac", ">=", "filter.fineweb_line_punct_frac"),
    "fineweb_short_line_frac": ("filter.fineweb.max_short_line_frac", "<=", "filter.fineweb_short_line_frac"),
    "fineweb_dup_line_char_frac": (
        "filter.fineweb.max_dup_line_char_frac",
        "<=",
        "filter.fineweb_dup_line_char_frac",
    ),
    "fineweb_newline_word_ratio": (
        "filter.fineweb.max_newline_word_ratio",
        "<=",
        "filter.fineweb_newline_word_ratio",
    ),
    "quality_score": ("quality.threshold", ">=", "quality.threshold"),
}


def run_config(out: str | Path | None) -> dict[str, Any]:
    """The resolved config a run was made with (OUT/config.yaml), else the defaults."""
    path = layout.config_path(out) if out else None
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
