"""Line-level dedup in the CCNet way (Wenzek et al. 2020, "CCNet", section 3.3).

Every line is normalised (the same normalisation as the MinHash shingles: lowercase, diacritics,
punctuation and symbols dropped, digits -> 0) and hashed to 64 bits. `jobs/dedup.py` counts in how
many documents each hash occurs across the corpus; lines whose hash occurs in more than
`max_count` documents (boilerplate: cookie banners, menus, share buttons) are cut from every
document. Lines with no words after normalisation are never counted nor cut.

A document that lost lines is re-checked for length: with fewer than `min_words` words left it is
dropped as `dedup.line_min_words` (the Gopher minimum-length rule, applied again after the cut);
its signal `dedup_words_left` is stored so the rule can be re-thresholded.
"""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
import xxhash

from pipeline.dedup.shingles import normalized_words_and_lines
from pipeline.rules import LineRule, Rule
from pipeline.schema import set_column

REMOVAL_COLUMNS = ("dedup_lines_removed", "dedup_chars_removed", "dedup_bytes_removed")
WORDS_LEFT = "dedup_words_left"  # words of a document that lost lines (null if it lost none)
_CCNET = "CCNet (Wenzek et al. 2020) §3.3"
# Cutting repeated lines: the decision needs the whole corpus (how many documents hold the line),
# so the stored output can answer only "what if it were off" (the lines and characters it cut).
LINE_DEDUP = Rule(
    "dedup", "line", "dedup.lines_enabled", "==", None, _CCNET, LineRule(None, *REMOVAL_COLUMNS[:2])
)
LINE_MIN_WORDS = Rule(
    "dedup",
    "line_min_words",
    "dedup.lines.min_words",
    ">=",
    WORDS_LEFT,
    "Gopher min_words (Rae et al. 2021), re-applied after " + _CCNET,
)


def line_hashes(text: str | None) -> list[int]:
    """One hash per "\\n"-separated line of `text` (0 = not a candidate)."""
    return line_hash_array([normalized_words_and_lines(text)[1]])[0].as_py()


def line_hash_array(docs: list[list[bytes]]) -> pa.ListArray:
    """list<int64> of line hashes per document, each given as its normalised lines
    (`normalized_words_and_lines`): XXH3-64 of the line as a signed integer; 0 for a line with no
    words, and 1 for a line whose hash is 0."""
    lines = list(itertools.chain.from_iterable(docs))
    hashes = np.fromiter(map(xxhash.xxh3_64_intdigest, lines), dtype=np.uint64, count=len(lines)).view(
        np.int64
    )
    has_words = np.fromiter(map(bool, lines), dtype=bool, count=len(lines))
    hashes[~has_words] = 0
    hashes[has_words & (hashes == 0)] = 1
    offsets = np.zeros(len(docs) + 1, dtype=np.int32)
    np.cumsum(np.fromiter(map(len, docs), dtype=np.int64, count=len(docs)), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(hashes, pa.int64()))


def remove_lines(text: str | None, positions) -> str | None:
    """`text` without the lines at `positions` (0-based indices of its "\\n"-separated lines)."""
    if not text or not positions:
        return text
    cut = set(positions)
    return "\n".join(line for i, line in enumerate(text.split("\n")) if i not in cut)


def apply_line_removal(
    batch: pa.RecordBatch, min_words: int, removed_col: str = "removed_lines"
) -> pa.RecordBatch:
    """Cut the lines listed in `removed_col` from `text`, count what went, and drop documents left
    shorter than `min_words` (only those that lost lines, and only those not dropped before)."""
    texts = batch.column("text").to_pylist()
    removed = batch.column(removed_col).to_pylist()
    reasons = batch.column("drop_reason").to_pylist()
    new_texts, n_lines, n_chars, n_bytes, words_left = [], [], [], [], []
    for i, (text, positions) in enumerate(zip(texts, removed)):
        new = remove_lines(text, positions)
        new_texts.append(new)
        n_lines.append(len(set(positions)) if positions and text else 0)
        n_chars.append(len(text) - len(new) if text else 0)
        n_bytes.append(len(text.encode("utf-8")) - len(new.encode("utf-8")) if text else 0)
        words_left.append(len((new or "").split()) if n_lines[-1] else None)
        if reasons[i] is None and LINE_MIN_WORDS.fails_one(words_left[-1], min_words):
            reasons[i] = LINE_MIN_WORDS.reason
    batch = set_column(batch, "text", new_texts, pa.string())
    for name, values in zip(REMOVAL_COLUMNS, (n_lines, n_chars, n_bytes)):
        batch = set_column(batch, name, values, pa.int64())
    batch = set_column(batch, WORDS_LEFT, words_left, pa.int64())
    return set_column(batch, "drop_reason", reasons, pa.string())
