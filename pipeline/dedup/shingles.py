"""Text normalisation and word n-gram shingles for MinHash document dedup.

Normalisation (as FineWeb / text-dedup do before shingling): lowercase, diacritics stripped (NFKD,
combining marks dropped), punctuation, symbols and control characters replaced by spaces, every
decimal digit replaced by "0" (so the "2019" and "2024" versions of a page compare equal). A shingle
is n consecutive words joined by one space, as UTF-8 bytes: the exact values handed to the hash
function, here and in the `datasketch` reference the tests compare with.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata

# ASCII fast path: one 256-entry byte table (punctuation/controls -> space, digits -> "0").
_ASCII_TABLE = bytes(
    ord(" ")
    if (not chr(c).isalnum() and not chr(c).isspace()) or c < 32
    else ord("0")
    if chr(c).isdigit()
    else c
    for c in range(128)
) + bytes(range(128, 256))
_LINES_TABLE = _ASCII_TABLE[: ord("\n")] + b"\n" + _ASCII_TABLE[ord("\n") + 1 :]  # newlines kept
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=1)
def _unicode_table() -> dict[int, str | None]:
    """str.translate table for non-ASCII text, built once per process (~0.3 s, ~10 k entries)."""
    table: dict[int, str | None] = {}
    for cp in range(sys.maxunicode + 1):
        category = unicodedata.category(chr(cp))
        if category[0] in "PSZ" or category == "Cc":
            table[cp] = " "
        elif category in ("Mn", "Me", "Cf"):  # combining marks (diacritics after NFKD), zero-width format
            table[cp] = None
        elif category == "Nd":
            table[cp] = "0"
    table.pop(ord(" "), None)
    return table


def normalized_words(text: str | None) -> list[bytes]:
    """The normalised words of `text` as UTF-8 bytes (empty for None or text with no words)."""
    return _normalized(text, _ASCII_TABLE).split() if text else []


def normalized_words_and_lines(text: str | None) -> tuple[list[bytes], list[bytes]]:
    """`normalized_words(text)`, and each "\\n"-separated line of `text` normalised: its normalised
    words joined by single spaces (b"" for a line with none). One pass serves both: the newlines are
    kept through it, and no step spans one (case folding looks at letters only; the non-ASCII runs
    stop at ASCII), so each line normalises as it would alone."""
    if not text:
        return [], []
    normalized = _normalized(text, _LINES_TABLE)
    return normalized.split(), [b" ".join(line.split()) for line in normalized.split(b"\n")]


def _normalized(text: str, table: bytes) -> bytes:
    lowered = text.lower()
    if not lowered.isascii():
        # Fold only the non-ASCII runs (typically a few quotes and dashes in English text); the
        # ASCII bytes, including letters that NFKD produced ("é" -> "e"), go through the byte table.
        lowered = _NON_ASCII_RUN.sub(_fold_run, lowered)
    return lowered.encode("utf-8").translate(table)


@functools.lru_cache(maxsize=65536)
def _fold_run_text(run: str) -> str:
    return unicodedata.normalize("NFKD", run).translate(_unicode_table())


def _fold_run(match: re.Match) -> str:
    return _fold_run_text(match.group())


def normalize_text(text: str | None) -> str:
    """The normalised text: words separated by single spaces."""
    return b" ".join(normalized_words(text)).decode("utf-8")


def word_shingles(text: str | None, n: int = 5) -> list[bytes]:
    """Word n-grams of the normalised text, in order, duplicates included.

    A text with fewer than n words (but at least one) yields one shingle of all its words, so short
    documents still get a signature; a text with no words yields none.
    """
    return shingles_of_words(normalized_words(text), n)


def shingles_of_words(words: list[bytes], n: int = 5) -> list[bytes]:
    """Word n-grams of an already normalised word list (see `word_shingles`)."""
    if len(words) < n:
        return [b" ".join(words)] if words else []
    if n == 1:
        return words
    # zip of shifted views: the n-grams are built in C, without a Python-level loop per shingle.
    return list(map(b" ".join, zip(*(words[i:] for i in range(n)))))
