"""Shared tokenisation for the heuristic filters: one split of a document, read by every rule.

`DocStats(text)` splits a document once, lazily, into the units the rules talk about:

- `lines`: the non-blank lines, stripped of surrounding whitespace (text split on "\\n").
- `paragraphs`: blocks separated by one or more blank lines, stripped (Gopher splits on "\\n\\n").
- `tokens`: whitespace-separated tokens as they stand, punctuation attached ("end." is one token).
  These are Gopher's "words" for counts, mean length and the alphabetic-word fraction.
- `words`: the same tokens lower-cased with leading and trailing non-alphanumerics trimmed, tokens
  with no letter or digit left out ("(The," -> "the", "--" -> nothing). These are the words of the
  stop-word rule and of every n-gram rule, so "Home." and "home" count as one word (the
  normalisation RedPajama-V2 uses for the same Gopher signals).

The n-gram helpers measure characters as the summed length of the normalised words involved, so a
fraction compares like with like; characters covered by overlapping n-grams are counted once.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

# A normalised word: starts and ends on a letter or digit, may hold anything but whitespace between
# (so "don't", "e-mail", "a/b" stay whole). Applied to lower-cased text in one C-level pass.
_WORD_RE = re.compile(r"[^\W_](?:\S*[^\W_])?")
_PARAGRAPH_SPLIT_RE = re.compile(r"\n[ \t\r\f\v]*\n\s*")
# A token holding at least one alphabetic character. The look-behind pins each try to a token
# start, so a long token without letters is scanned once, not once per position.
_ALPHA_TOKEN_RE = re.compile(r"(?<!\S)(?=\S*?[^\W\d_])\S+")
_HASH_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd, well mixed (2**64 / golden ratio)


class DocStats:
    """Lazily computed views of one document; each view is computed at most once."""

    def __init__(self, text: str | None):
        self.text = text or ""

    @cached_property
    def raw_lines(self) -> list[str]:
        return self.text.split("\n")

    @cached_property
    def lines(self) -> list[str]:
        return [s for s in (line.strip() for line in self.raw_lines) if s]

    @cached_property
    def paragraphs(self) -> list[str]:
        return [s for s in (p.strip() for p in _PARAGRAPH_SPLIT_RE.split(self.text)) if s]

    @cached_property
    def tokens(self) -> list[str]:
        return self.text.split()

    @cached_property
    def alpha_tokens(self) -> int:
        return len(_ALPHA_TOKEN_RE.findall(self.text))

    @cached_property
    def words(self) -> list[str]:
        return _WORD_RE.findall(self.text.lower())

    @cached_property
    def word_lengths(self) -> np.ndarray:
        return np.fromiter(map(len, self.words), dtype=np.int64, count=len(self.words))

    @cached_property
    def word_chars(self) -> int:
        return int(self.word_lengths.sum())

    @cached_property
    def word_ids(self) -> np.ndarray:
        """Each word as a small integer (first occurrence order), so n-grams can be hashed in numpy."""
        index = {w: i for i, w in enumerate(dict.fromkeys(self.words))}
        return np.fromiter(map(index.__getitem__, self.words), dtype=np.uint64, count=len(self.words))

    def ngram_keys(self, n: int) -> np.ndarray:
        """One uint64 per n-gram (start positions 0 .. len(words) - n): a polynomial hash of its word
        ids, wrapping mod 2**64. Two different n-grams of one document share a key with odds of
        about m**2 / 2**64 for m n-grams, i.e. never in practice."""
        ids = self.word_ids
        m = len(ids) - n + 1
        keys = ids[:m].copy()
        for k in range(1, n):
            keys = keys * _HASH_MULTIPLIER + ids[k : k + m]
        return keys


def duplicate_stats(items: list[str]) -> tuple[int, int, int, int]:
    """(duplicates, total, duplicate chars, total chars) of a list of strings.

    A duplicate is every occurrence of an item after its first, as in Gopher's "duplicate line
    fraction": two identical lines out of four give 1/4, not 2/4.
    """
    seen: set[str] = set()
    dup = dup_chars = total_chars = 0
    for item in items:
        size = len(item)
        total_chars += size
        if item in seen:
            dup += 1
            dup_chars += size
        else:
            seen.add(item)
    return dup, len(items), dup_chars, total_chars


def _covered_chars(lengths: np.ndarray, starts: np.ndarray, n: int) -> int:
    """Characters of the words covered by the n-grams whose start flag is set, overlaps once.

    Word i is covered when some flagged start s has i - n < s <= i; prefix sums count the flags.
    """
    flags = np.concatenate(([0], np.cumsum(starts)))
    i = np.arange(len(lengths))
    covered = flags[np.minimum(i + 1, len(starts))] - flags[np.maximum(i - n + 1, 0)] > 0
    return int(lengths[covered].sum())


def top_ngram_char_frac(stats: DocStats, n: int) -> float:
    """Fraction of word characters inside the most frequent n-gram (Gopher, Rae et al. 2021, A.1.1).

    Overlapping occurrences ("zz zz" in "zz zz zz") count their characters once. An n-gram seen
    only once is not repetition: the fraction is then 0 (as RedPajama-V2 does).
    """
    if stats.word_chars == 0 or len(stats.words) < n:
        return 0.0
    _, inverse, counts = np.unique(stats.ngram_keys(n), return_inverse=True, return_counts=True)
    top = int(np.argmax(counts))
    if counts[top] < 2:
        return 0.0
    return _covered_chars(stats.word_lengths, inverse == top, n) / stats.word_chars


def dup_ngram_char_fracs(stats: DocStats, sizes: range | list[int] | tuple[int, ...]) -> dict[int, float]:
    """{n: fraction of word characters inside n-grams that occur more than once} (Gopher A.1.1).

    Every occurrence of a repeated n-gram counts, the first included ("characters contained within
    all duplicate n-grams"), and a character covered by several overlapping n-grams counts once.
    A repeated (n+1)-gram contains a repeated n-gram, so once no n-gram repeats the larger sizes
    are 0 without counting.
    """
    out: dict[int, float] = {}
    any_repeat = stats.word_chars > 0
    for n in sorted(sizes):
        if not any_repeat or len(stats.words) < n:
            out[n] = 0.0
            continue
        _, inverse, counts = np.unique(stats.ngram_keys(n), return_inverse=True, return_counts=True)
        repeated = counts[inverse] > 1
        any_repeat = bool(repeated.any())
        out[n] = _covered_chars(stats.word_lengths, repeated, n) / stats.word_chars if any_repeat else 0.0
    return out
