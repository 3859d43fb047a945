"""MinHash signatures equal datasketch's, value for value, for every scheme and base hash."""

from __future__ import annotations

import gzip
import json
import random

import numpy as np
import pytest
from datasketch import MinHash

from pipeline.dedup.minhash import BASE_HASHES, MinHasher, estimated_jaccard, permutations
from pipeline.dedup.shingles import (
    normalize_text,
    normalized_words,
    normalized_words_and_lines,
    word_shingles,
)


def _corpus(n_docs: int, seed: int = 0) -> list[str | None]:
    rng = random.Random(seed)
    vocab = [f"word{i}" for i in range(400)] + ["Café", "naïve", "2024", "Привет", "北京", "co-op", "it's"]
    lengths = [0, 1, 2, 4, 5, 6, 50, 700, 9000]  # empty, shorter than one 5-gram, > one 8192-row block
    texts: list[str | None] = [" ".join(rng.choices(vocab, k=rng.choice(lengths))) for _ in range(n_docs)]
    return [*texts, None, "", "!!! ---", "one two three four five"]


def _datasketch(shingles: list[bytes], minhasher: MinHasher) -> MinHash:
    m = MinHash(
        num_perm=minhasher.num_perm, seed=minhasher.seed, scheme=minhasher.scheme, hashfunc=minhasher.hashfunc
    )
    m.update_batch(shingles)
    return m


@pytest.mark.parametrize("scheme", ["affine32", "legacy"])
@pytest.mark.parametrize("hash_name", sorted(BASE_HASHES))
def test_signatures_equal_datasketch(scheme, hash_name):
    texts = _corpus(60, seed=len(hash_name))
    minhasher = MinHasher(num_perm=112, seed=42, scheme=scheme, hash_name=hash_name, ngram=5)
    sigs, counts = minhasher.signatures(texts)
    assert sigs.shape == (len(texts), 112)
    for text, sig, count in zip(texts, sigs, counts):
        shingles = word_shingles(text, 5)
        expected = _datasketch(shingles, minhasher).hashvalues
        assert count == len(shingles)
        assert sig.dtype == expected.dtype
        np.testing.assert_array_equal(sig, expected)


@pytest.mark.parametrize("ngram", [1, 3, 13])
def test_other_ngram_sizes_equal_datasketch(ngram):
    texts = _corpus(20, seed=ngram)
    minhasher = MinHasher(num_perm=64, seed=7, scheme="affine32", hash_name="xxh32_ngram", ngram=ngram)
    sigs, _ = minhasher.signatures(texts)
    for text, sig in zip(texts, sigs):
        np.testing.assert_array_equal(sig, _datasketch(word_shingles(text, ngram), minhasher).hashvalues)


def test_permutations_are_datasketchs():
    for scheme in ("affine32", "legacy"):
        a, b = permutations(16, 3, scheme)
        ref = MinHash(num_perm=16, seed=3, scheme=scheme).permutations
        np.testing.assert_array_equal(a, ref[0])
        np.testing.assert_array_equal(b, ref[1])


def test_normalisation_golden():
    text = "Héllo, WORLD! It's 2024_05 — cafe\u0301\u00adteria ｆｕｌｌ１２ Привет"
    assert normalize_text(text) == "hello world it s 0000 00 cafeteria full00 привет"
    assert word_shingles("a b c", 5) == [b"a b c"]
    assert word_shingles("A, b. c d e f", 5) == [b"a b c d e", b"b c d e f"]
    assert word_shingles("  ...  ", 5) == []


def _line_by_line(text):
    """The definition `normalized_words_and_lines` must equal: each line normalised on its own."""
    return normalized_words(text), [b" ".join(normalized_words(line)) for line in text.split("\n")]


TRICKY_LINES = [
    "ΟΔΟΣ\nΣΑΣ ΚΑΙ\nΣ",  # Greek capital sigma: its lowercase form depends on the letters around it
    "one\r\ntwo\u2028three\x0bfour\n\n  \n",  # other line and space separators are not lines here
    "cafe\u0301\nteria ｆｕｌｌ\n—\nİstanbul\nﬁne",  # combining marks, full width, ligatures
    "",
    "\n",
]


@pytest.mark.data
def test_one_pass_normalisation_equals_line_by_line(shared_data):
    """Line dedup and MinHash read one normalisation of each text (jobs/dedup.py); it must give the
    words and lines that normalising the text and each line alone gives, on real crawl text."""
    texts = list(TRICKY_LINES)
    sources = [*sorted((shared_data / "cc_text_samples").glob("dolma_cc_*.jsonl.gz"))]
    sources.append(shared_data / "wikipedia_positives" / "enwiki_2016_articles.jsonl.gz")
    for path in sources:
        if "spans" not in path.name:
            with gzip.open(path, "rt") as f:
                texts += [json.loads(line)["text"] for line in f]
    assert len(texts) > 50
    for text in texts:
        words, lines = normalized_words_and_lines(text)
        expected_words, expected_lines = _line_by_line(text)
        assert words == expected_words
        assert lines == (expected_lines if text else [])


def test_estimate_tracks_jaccard():
    rng = random.Random(1)
    words = [f"w{rng.randrange(10**6)}" for _ in range(2000)]
    edited = list(words)
    for i in rng.sample(range(len(words)), 100):  # 5% of words replaced
        edited[i] = f"x{i}"
    minhasher = MinHasher(num_perm=256, seed=1, scheme="affine32", hash_name="xxh32_ngram", ngram=5)
    sigs, _ = minhasher.signatures([" ".join(words), " ".join(edited)])
    a, b = set(word_shingles(" ".join(words))), set(word_shingles(" ".join(edited)))
    true_jaccard = len(a & b) / len(a | b)
    assert abs(estimated_jaccard(sigs[0], sigs[1]) - true_jaccard) < 0.08


def test_bad_settings_are_rejected():
    with pytest.raises(ValueError, match="base hash"):
        MinHasher(112, 1, "affine32", "md5", 5)
    with pytest.raises(ValueError, match="scheme"):
        MinHasher(112, 1, "affine16", "xxh32_ngram", 5)
