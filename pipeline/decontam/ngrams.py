"""Normalised words, their n-gram hashes, and the index of every eval item's n-grams.

Matching follows GPT-3 (Brown et al. 2020, appendix C): text is cut into words at every run of
characters that are neither letters nor digits, and lowercased, so "well-known", "well - known" and
WikiText's "well @-@ known" are the same two words, and code matches whatever its indentation.
Each eval set gets its own n: the 5th percentile of its items' word counts, clamped to [8, 13]; a
document overlaps an item when it shares at least one such n-gram with it.

Hashing: every word of the eval sets' vocabulary gets a fixed 64-bit hash (blake2b, the same in
every process); an n-gram's hash is a polynomial over its words' hashes modulo 2^64, computed for
all positions of a record batch at once with numpy. A document word outside the vocabulary cannot be
part of any eval n-gram, so it maps to 0 and every n-gram containing it is skipped. The index is a
sorted uint64 array of n-gram hashes per n (with the item each came from), built once on the
driver and shipped to the executors; a lookup is a binary search (`np.searchsorted`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.decontam.evalsets import EvalItem

SEPARATOR_RE2 = r"[^\pL\pN]+"  # Arrow (RE2) pattern: any run of characters that are not letters or digits
_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio) of the polynomial hash


def split_words(texts: pa.Array) -> tuple[pa.Array, np.ndarray, np.ndarray]:
    """Every text's words, flattened: (words as written, text index of each word, start of each text).

    Words are cut on the original text and lowercased afterwards, so a word's position in the flat
    array maps back to the text (see `word_spans`). `starts[i]` is the flat index of text i's first word.
    """
    texts = pc.fill_null(texts, "")
    parts = pc.split_pattern_regex(texts, SEPARATOR_RE2)
    words = parts.flatten()
    owner = pc.list_parent_indices(parts)
    nonempty = pc.greater(pc.utf8_length(words), 0)
    words, owner = words.filter(nonempty), owner.filter(nonempty).to_numpy(zero_copy_only=False)
    starts = np.searchsorted(owner, np.arange(len(texts) + 1), side="left")
    return words, owner, starts


def normalised_words(text: str) -> list[str]:
    words, _, _ = split_words(pa.array([text], pa.string()))
    return pc.utf8_lower(words).to_pylist()


def word_spans(text: str, words: list[str]) -> list[tuple[int, int]]:
    """Character spans of `words` (as `split_words` cut them, in order) in `text`.

    Separators hold no letter or digit and every word starts with one, so the first occurrence of
    the next word after the previous one is where it was cut.
    """
    spans, pos = [], 0
    for word in words:
        start = text.find(word, pos)
        pos = start + len(word)
        spans.append((start, pos))
    return spans


def word_hash(word: str) -> int:
    """A fixed, non-zero 64-bit hash of a word (0 is reserved for 'not in the vocabulary')."""
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little") or 1


def ngram_hashes(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """The hash of every n-gram of a word-hash sequence (position i = words i .. i+n-1)."""
    count = len(word_hashes) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    acc = np.zeros(count, dtype=np.uint64)
    for i in range(n):
        acc = acc * _MULTIPLIER + word_hashes[i : i + count]
    return acc


def known_ngram_positions(word_hashes: np.ndarray, n: int) -> np.ndarray:
    """Start positions of the n-grams whose words are all in the vocabulary."""
    if len(word_hashes) < n:
        return np.zeros(0, dtype=np.int64)
    unknown = np.concatenate(([0], np.cumsum(word_hashes == 0)))
    return np.flatnonzero(unknown[n:] - unknown[:-n] == 0)


@dataclass(frozen=True)
class NgramRule:
    """GPT-3's per-eval-set n: a percentile of the items' word counts, clamped to [min_n, max_n]
    (config `decontam.ngram_percentile`, `min_ngram`, `max_ngram`: 5, 8, 13 in GPT-3 app. C)."""

    percentile: float
    min_n: int
    max_n: int

    def length(self, word_counts: list[int]) -> int:
        if not word_counts:
            return self.max_n
        p = int(np.percentile(np.asarray(word_counts), self.percentile, method="lower"))
        return max(self.min_n, min(self.max_n, p))


@dataclass
class EvalSetInfo:
    name: str
    n: int  # n-gram length of this eval set
    items: int  # items in the file
    matchable: int  # items with at least one n-gram (a shorter item cannot be detected)


@dataclass
class Match:
    """Where one document overlaps the eval sets."""

    items: list[int] = field(default_factory=list)  # indices into EvalIndex.item_keys, ascending
    ngrams: int = 0  # n-gram positions of the document found in the index
    word_ranges: list[tuple[int, int]] = field(default_factory=list)  # [start, end) word positions matched


@dataclass
class EvalIndex:
    sets: list[EvalSetInfo]
    item_keys: list[tuple[str, str]]  # global item index -> (eval set, item id)
    vocab_words: pa.Array  # every word of an eval n-gram (lowercase) ...
    vocab_hashes: np.ndarray  # ... and its 64-bit hash
    tables: dict[int, tuple[np.ndarray, np.ndarray]]  # n -> (sorted n-gram hashes, item index of each)

    @property
    def empty(self) -> bool:
        return not self.tables

    def set_of(self, item: int) -> str:
        return self.item_keys[item][0]

    def word_hashes(self, words: pa.Array) -> np.ndarray:
        """The hash of each (lowercase) word; 0 for a word in no eval n-gram."""
        idx = pc.index_in(words, value_set=self.vocab_words)
        idx = pc.fill_null(idx, -1).to_numpy(zero_copy_only=False)
        return np.where(idx >= 0, self.vocab_hashes[np.maximum(idx, 0)], np.uint64(0))

    def match_batch(self, texts: pa.Array) -> tuple[list[Match], pa.Array, np.ndarray]:
        """One `Match` per text, plus `split_words`' words and text starts (for cutting spans out).

        All texts of the batch are hashed as one flat word array: an n-gram is looked up only when
        its n words belong to one text and are all in the vocabulary.
        """
        words, owner, starts = split_words(texts)
        matches = [Match() for _ in range(len(texts))]
        if self.empty or not len(words):
            return matches, words, starts
        hashes = self.word_hashes(pc.utf8_lower(words))
        found: list[set[int]] = [set() for _ in range(len(texts))]
        for n, (table, item_of) in self.tables.items():
            positions = known_ngram_positions(hashes, n)
            positions = positions[owner[positions] == owner[positions + n - 1]]
            if not len(positions):
                continue
            grams = ngram_hashes(hashes, n)[positions]
            lo = np.searchsorted(table, grams, side="left")
            hit = lo < len(table)
            hit[hit] = table[lo[hit]] == grams[hit]
            if not hit.any():
                continue
            hi = np.searchsorted(table, grams[hit], side="right")
            for pos, a, b in zip(positions[hit].tolist(), lo[hit].tolist(), hi.tolist()):
                doc = int(owner[pos])
                found[doc].update(item_of[a:b].tolist())
                matches[doc].ngrams += 1
                start = pos - int(starts[doc])
                matches[doc].word_ranges.append((start, start + n))
        for match, items in zip(matches, found):
            match.items = sorted(items)
        return matches, words, starts

    def match_text(self, text: str) -> Match:
        return self.match_batch(pa.array([text], pa.string()))[0][0]


def build_index(eval_sets: dict[str, list[EvalItem]], rule: NgramRule) -> EvalIndex:
    """The n-gram index of every item of every eval set (driver side, once per run)."""
    sets: list[EvalSetInfo] = []
    item_keys: list[tuple[str, str]] = []
    vocab: dict[str, int] = {}
    per_n: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
    for name, items in eval_sets.items():
        segments = [seg for item in items for seg in item.segments]
        words, _, starts = split_words(pa.array(segments, pa.string()))
        lowered = pc.utf8_lower(words).to_pylist()
        seg_words = iter([lowered[a:b] for a, b in zip(starts[:-1], starts[1:])])
        segmented = [[next(seg_words) for _ in item.segments] for item in items]
        n = rule.length([sum(len(seg) for seg in segs) for segs in segmented])
        matchable = 0
        for item, segs in zip(items, segmented):
            index = len(item_keys)
            item_keys.append((name, item.item))
            grams = []
            for seg in segs:
                if len(seg) < n:
                    continue
                for w in seg:
                    if w not in vocab:
                        vocab[w] = word_hash(w)
                grams.append(ngram_hashes(np.array([vocab[w] for w in seg], dtype=np.uint64), n))
            if grams:
                unique = np.unique(np.concatenate(grams))
                hashes_n, items_n = per_n.setdefault(n, ([], []))
                hashes_n.append(unique)
                items_n.append(np.full(len(unique), index, dtype=np.int32))
                matchable += 1
        sets.append(EvalSetInfo(name=name, n=n, items=len(items), matchable=matchable))
    tables = {}
    for n, (hashes_n, items_n) in sorted(per_n.items()):
        hashes, owners = np.concatenate(hashes_n), np.concatenate(items_n)
        order = np.lexsort((owners, hashes))
        tables[n] = (hashes[order], owners[order])
    return EvalIndex(
        sets=sets,
        item_keys=item_keys,
        vocab_words=pa.array(list(vocab), pa.string()),
        vocab_hashes=np.array(list(vocab.values()), dtype=np.uint64),
        tables=tables,
    )
