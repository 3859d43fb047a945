"""Gopher's quality and repetition rules (Rae et al. 2021, "Scaling Language Models: Methods,
Analysis & Insights from Training Gopher", Appendix A.1.1 and Table A1, the MassiveText filters).

Units come from `pipeline.filters.text_stats` (see its docstring): `tokens` are whitespace tokens,
`words` are lower-cased tokens trimmed of punctuation, `lines` and `paragraphs` are non-blank.

Where datatrove's GopherQualityFilter / GopherRepetitionFilter (0.10.1) read the paper differently,
we follow the paper and say so next to the rule; BENCHMARKS.md measures what it changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pyarrow as pa

from pipeline.config import default, fraction, non_negative
from pipeline.filters.rule_filter import RuleFilter
from pipeline.filters.text_stats import DocStats, dup_ngram_char_fracs, duplicate_stats, top_ngram_char_frac
from pipeline.rules import Rule, names
from pipeline.settings import Section

# "Lines starting with a bullet point": the paper names no characters; these are the usual list
# markers (datatrove 0.10.1 counts only "•" and "-").
BULLETS = ("•", "‣", "⁃", "◦", "●", "○", "▪", "■", "□", "∙", "-", "*")
ELLIPSES = ("...", "…")

_A11 = "Gopher (Rae et al. 2021) App. A.1.1"
_TA1 = "Gopher (Rae et al. 2021) Table A1"
TOP_NGRAM_SIZES = (2, 3, 4)
DUP_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)


@dataclass(frozen=True)
class GopherQualitySettings(Section):
    PATH = "filter.gopher_quality"
    enabled: bool
    min_words: int | None = non_negative()
    max_words: int | None = non_negative()
    min_mean_word_length: int | None = non_negative()
    max_mean_word_length: int | None = non_negative()
    max_symbol_word_ratio: float | None = non_negative()
    max_bullet_lines_frac: float | None = fraction()
    max_ellipsis_lines_frac: float | None = fraction()
    min_alpha_words_frac: float | None = fraction()
    min_stop_words: int | None = non_negative()
    stop_words: tuple[str, ...]


class GopherQualityFilter(RuleFilter):
    """Rules, in the paper's order. Datatrove differences (0.10.1): it counts spaCy tokens with
    punctuation split off (we count whitespace tokens, the paper's "words"), matches stop words
    case-sensitively on those tokens (we lower-case and trim punctuation), and divides line
    fractions by all lines, blank ones included (we use non-blank lines)."""

    Settings = GopherQualitySettings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    _WORDS = _A11 + ': "between 50 and 100,000 words"'
    # One line per rule: (rule, the signal it reads, the signal's type, config key, direction, source).
    # "symbol-to-word ratio greater than 0.1 for either the hash symbol or the ellipsis": two rules, one key.
    DECLARED = (
        ("gopher_min_words", "gopher_word_count", pa.int64(), "min_words", ">=", _WORDS),
        ("gopher_max_words", "gopher_word_count", pa.int64(), "max_words", "<=", _WORDS),
        ("gopher_min_mean_word_length", "gopher_mean_word_length", pa.float32(), "min_mean_word_length", ">=", _A11),
        ("gopher_max_mean_word_length", "gopher_mean_word_length", pa.float32(), "max_mean_word_length", "<=", _A11),
        ("gopher_hash_word_ratio", "gopher_hash_word_ratio", pa.float32(), "max_symbol_word_ratio", "<=", _A11),
        ("gopher_ellipsis_word_ratio", "gopher_ellipsis_word_ratio", pa.float32(), "max_symbol_word_ratio", "<=", _A11),
        ("gopher_bullet_lines", "gopher_bullet_lines_frac", pa.float32(), "max_bullet_lines_frac", "<=", _A11),
        ("gopher_ellipsis_lines", "gopher_ellipsis_lines_frac", pa.float32(), "max_ellipsis_lines_frac", "<=", _A11),
        ("gopher_alpha_words", "gopher_alpha_words_frac", pa.float32(), "min_alpha_words_frac", ">=", _A11),
        ("gopher_stop_words", "gopher_stop_words", pa.int32(), "min_stop_words", ">=", _A11),
    )  # fmt: skip
    RULES: ClassVar[tuple[Rule, ...]] = tuple(
        Rule("filter", name, f"filter.gopher_quality.{key}", keep_if, signal, source)
        for name, signal, _, key, keep_if, source in DECLARED
    )
    rules = names(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = tuple(
        {signal: pa.field(signal, kind) for _, signal, kind, *_ in DECLARED}.values()
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        words = GopherQualitySettings.from_section(self.cfg).stop_words
        words = words or default("filter.gopher_quality.stop_words")  # null or []: the declared list
        self.stop_words = frozenset(w.lower() for w in words)

    def measure(self, stats: DocStats) -> dict[str, float]:
        tokens = stats.tokens
        if not tokens:
            return dict.fromkeys(self.signal_names, 0)
        n = len(tokens)
        text, lines = stats.text, stats.lines
        n_lines = len(lines) or 1
        return {
            "gopher_word_count": n,
            "gopher_mean_word_length": sum(map(len, tokens)) / n,
            "gopher_hash_word_ratio": text.count("#") / n,
            "gopher_ellipsis_word_ratio": (text.count("...") + text.count("…")) / n,
            "gopher_bullet_lines_frac": sum(1 for line in lines if line.startswith(BULLETS)) / n_lines,
            "gopher_ellipsis_lines_frac": sum(1 for line in lines if line.endswith(ELLIPSES)) / n_lines,
            "gopher_alpha_words_frac": stats.alpha_tokens / n,
            # "at least two of the following English words": distinct words, as the paper reads
            "gopher_stop_words": len(self.stop_words.intersection(stats.words)),
        }


@dataclass(frozen=True)
class GopherRepetitionSettings(Section):
    PATH = "filter.gopher_repetition"
    enabled: bool
    dup_line_frac: float | None = fraction()
    dup_para_frac: float | None = fraction()
    dup_line_char_frac: float | None = fraction()
    dup_para_char_frac: float | None = fraction()
    top_2gram_char_frac: float | None = fraction()
    top_3gram_char_frac: float | None = fraction()
    top_4gram_char_frac: float | None = fraction()
    dup_5gram_char_frac: float | None = fraction()
    dup_6gram_char_frac: float | None = fraction()
    dup_7gram_char_frac: float | None = fraction()
    dup_8gram_char_frac: float | None = fraction()
    dup_9gram_char_frac: float | None = fraction()
    dup_10gram_char_frac: float | None = fraction()


class GopherRepetitionFilter(RuleFilter):
    """Repetition rules of Table A1. Definitions (paper wording in quotes):

    - duplicate line / paragraph fraction: occurrences after the first, over all lines/paragraphs;
      the char fractions: characters of those occurrences over characters of all lines/paragraphs.
    - "fraction of characters contained within the most frequently-occurring n-gram" (n = 2, 3, 4),
      0 when no n-gram repeats.
    - "fraction of characters contained within all duplicate n-grams" (n = 5..10), "taking care not
      to count characters that occur in overlapping n-grams more than once": every occurrence of a
      repeated n-gram, the first one included, each word counted once.

    Datatrove 0.10.1 differs on the last rule: it counts only the occurrences after the first and
    jumps n words after each, so it measures about half of the paper's value on a twice-repeated
    passage and drops fewer documents. It also measures characters with spaces (joined n-grams
    over len(text)) and splits lines on "\\n+" without stripping.
    """

    Settings = GopherRepetitionSettings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    # Each rule reads the float32 signal of its name plus "_char_frac" or as is; the config key is the
    # signal's name without the "gopher_" prefix, e.g. dup_line_frac.
    TOP_SIGNALS = tuple((n, f"gopher_top_{n}gram_char_frac") for n in TOP_NGRAM_SIZES)
    DUP_SIGNALS = tuple((n, f"gopher_dup_{n}gram_char_frac") for n in DUP_NGRAM_SIZES)
    DECLARED = (
        *(
            (name, name)
            for name in ("gopher_dup_line_frac", "gopher_dup_para_frac", "gopher_dup_line_char_frac")
        ),
        ("gopher_dup_para_char_frac", "gopher_dup_para_char_frac"),
        *((f"gopher_top_{n}gram", signal) for n, signal in TOP_SIGNALS),
        *((f"gopher_dup_{n}gram", signal) for n, signal in DUP_SIGNALS),
    )
    RULES: ClassVar[tuple[Rule, ...]] = tuple(
        Rule("filter", name, f"filter.gopher_repetition.{signal.removeprefix('gopher_')}", "<=", signal, _TA1)
        for name, signal in DECLARED
    )
    rules = names(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = tuple(pa.field(signal, pa.float32()) for _, signal in DECLARED)

    def measure(self, stats: DocStats) -> dict[str, float]:
        line_dup, line_n, line_dup_chars, line_chars = duplicate_stats(stats.lines)
        para_dup, para_n, para_dup_chars, para_chars = duplicate_stats(stats.paragraphs)
        dup = dup_ngram_char_fracs(stats, DUP_NGRAM_SIZES)
        values = {
            "gopher_dup_line_frac": line_dup / (line_n or 1),
            "gopher_dup_para_frac": para_dup / (para_n or 1),
            "gopher_dup_line_char_frac": line_dup_chars / (line_chars or 1),
            "gopher_dup_para_char_frac": para_dup_chars / (para_chars or 1),
        }
        for n, signal in self.TOP_SIGNALS:
            values[signal] = top_ngram_char_frac(stats, n)
        for n, signal in self.DUP_SIGNALS:
            values[signal] = dup[n]
        return values
