"""FineWeb's own heuristic rules (Penedo et al. 2024, "The FineWeb Datasets", §3.3), as the released
FineWeb pipeline ran them (datatrove's FineWebQualityFilter with its defaults, examples/fineweb.py).

Over the non-blank lines of a document:
- fraction of lines ending in terminal punctuation (. ' " ! ?): reject below 0.12;
- fraction of lines of at most 30 characters: reject above 0.67;
- characters in duplicated lines (each occurrence after the first) over all line characters:
  reject above 0.01 (the paper's text says 0.1; the released pipeline used 0.01);
- newline-to-word ratio, newline characters in the text over its words: reject above 0.3.

Differences with datatrove 0.10.1: its terminal-punctuation set is a large Unicode set without the
quotes (the FineWeb release used the five marks above, which we keep), its words for the newline
ratio are spaCy tokens with punctuation split off (ours are whitespace tokens, so ratios run a
little higher), and it does not strip lines before measuring them (we do).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from pipeline.config import fraction, non_negative
from pipeline.filters.rule_filter import RuleFilter
from pipeline.filters.text_stats import DocStats, duplicate_stats
from pipeline.rules import Rule, names
from pipeline.settings import Section

STOP_CHARS = (".", "'", '"', "!", "?")
_FINEWEB = "FineWeb (Penedo et al. 2024 §3.3); datatrove FineWebQualityFilter defaults"


@dataclass(frozen=True)
class FineWebSettings(Section):
    PATH = "filter.fineweb"
    enabled: bool
    min_line_punct_frac: float | None = fraction()
    max_short_line_frac: float | None = fraction()
    short_line_length: int = non_negative()
    max_dup_line_char_frac: float | None = fraction()
    max_newline_word_ratio: float | None = non_negative()


class FineWebFilter(RuleFilter):
    Settings = FineWebSettings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    # (rule = its float32 signal, config key, direction)
    DECLARED = (
        ("fineweb_line_punct_frac", "min_line_punct_frac", ">="),
        ("fineweb_short_line_frac", "max_short_line_frac", "<="),
        ("fineweb_dup_line_char_frac", "max_dup_line_char_frac", "<="),
        ("fineweb_newline_word_ratio", "max_newline_word_ratio", "<="),
    )
    RULES: ClassVar[tuple[Rule, ...]] = tuple(
        Rule("filter", signal, f"filter.fineweb.{key}", keep_if, signal, _FINEWEB)
        for signal, key, keep_if in DECLARED
    )
    rules = names(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = tuple(
        pa.field(signal, pa.float32()) for signal, _, _ in DECLARED
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        self.short_line_length = FineWebSettings.from_section(self.cfg).short_line_length

    def measure(self, stats: DocStats) -> dict[str, float]:
        lines = stats.lines
        newline_word_ratio = stats.text.count("\n") / (len(stats.tokens) or 1) if lines else 0.0
        n = len(lines) or 1
        _, _, dup_chars, chars = duplicate_stats(lines) if lines else (0, 0, 0, 0)
        return {
            "fineweb_line_punct_frac": sum(1 for line in lines if line.endswith(STOP_CHARS)) / n,
            "fineweb_short_line_frac": sum(1 for line in lines if len(line) <= self.short_line_length) / n,
            "fineweb_dup_line_char_frac": dup_chars / (chars or 1),
            "fineweb_newline_word_ratio": newline_word_ratio,
        }
