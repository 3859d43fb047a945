"""Vectorised MinHash signatures, value-for-value equal to `datasketch.MinHash` (datasketch 2.0).

datasketch draws its permutation parameters from `np.random.RandomState(seed)` and offers two
permutation schemes (both reproduced here; the tests assert equality on many documents):

- "affine32" (datasketch >= 2.0 default): the 32-bit input hash is pre-mixed with the MurmurHash3
  finalizer, then permuted as `a * h + b mod 2^32` with `a` odd (a bijection).
- "legacy" (datasketch < 2.0): `((a * h + b) mod (2^61 - 1)) & (2^32 - 1)`, a universal hash over a
  Mersenne prime, with `a * h + b` evaluated in wrapping uint64 arithmetic exactly as numpy does.

datasketch hashes one document per call. Here a whole batch of documents is hashed in one flat
array, permuted in cache-sized blocks and reduced per document with `np.minimum.reduceat`, which
removes the per-document numpy overhead that dominates for web-sized documents.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np
import xxhash

from pipeline.dedup.shingles import normalized_words, shingles_of_words

MERSENNE_PRIME = np.uint64((1 << 61) - 1)
MAX_HASH32 = np.uint64((1 << 32) - 1)
SCHEMES = ("affine32", "legacy")
BLOCK_ROWS = 8192  # shingles permuted at once: 112 x 8192 uint32 = 3.7 MB


def sha1_hash32(data: bytes) -> int:
    """datasketch's default hash: the first 4 bytes of SHA-1, little-endian."""
    return struct.unpack("<I", hashlib.sha1(data).digest()[:4])[0]


def xxh3_hash32(data: bytes) -> int:
    """Low 32 bits of XXH3-64."""
    return xxhash.xxh3_64_intdigest(data) & 0xFFFFFFFF


_MASK64 = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


# "xxh32_ngram": each word is hashed once with XXH32 and an n-gram's hash is derived from its words'
# hashes: acc = k*C_LEN + sum_j w_j*C_j (mod 2^64, fixed odd constants), then the top 32 bits of
# MurmurHash3's 64-bit finalizer. Equal to hashing the joined shingle bytes with `xxh32_ngram_hash`
# (so datasketch can be given the same function), but computed with numpy and no shingle strings.
MAX_NGRAM = 64
_NGRAM_CONSTS = [_splitmix64(j) | 1 for j in range(MAX_NGRAM + 1)]  # [0] = C_LEN, [1 + j] = C_j


def _fmix64_int(h: int) -> int:
    h = ((h ^ (h >> 33)) * 0xFF51AFD7ED558CCD) & _MASK64
    h = ((h ^ (h >> 33)) * 0xC4CEB9FE1A85EC53) & _MASK64
    return h ^ (h >> 33)


def xxh32_ngram_hash(shingle: bytes) -> int:
    """Scalar form of the "xxh32_ngram" hash of one shingle (words joined by single spaces)."""
    words = shingle.split(b" ")
    acc = len(words) * _NGRAM_CONSTS[0]
    for j, word in enumerate(words):
        acc += xxhash.xxh32_intdigest(word) * _NGRAM_CONSTS[1 + j]
    return _fmix64_int(acc & _MASK64) >> 32


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finalizer on a uint64 array."""
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xFF51AFD7ED558CCD)
    h = h ^ (h >> np.uint64(33))
    h = h * np.uint64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> np.uint64(33))


def ngram_hashes(word_hashes: np.ndarray, word_counts: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """ "xxh32_ngram" hashes of every word n-gram of every document, and the n-grams per document.

    `word_hashes` holds the XXH32 of each word, documents back to back (`word_counts` words each).
    A document with 1 <= k < n words has one n-gram made of all its words, as in `word_shingles`.
    """
    consts = np.array(_NGRAM_CONSTS, dtype=np.uint64)
    w = word_hashes.astype(np.uint64)
    total = len(w)
    starts = np.cumsum(word_counts) - word_counts
    local = np.arange(total) - np.repeat(starts, word_counts)  # position of each word in its document
    doc_len = np.repeat(word_counts, word_counts)
    full = local <= doc_len - n  # an n-gram starting here fits inside the document
    acc = np.full(total, (n * _NGRAM_CONSTS[0]) & _MASK64, dtype=np.uint64)
    for j in range(min(n, total)):
        acc[: total - j] += w[j:] * consts[1 + j]
    keep = full
    short_docs = np.flatnonzero((word_counts > 0) & (word_counts < n))
    if len(short_docs):
        keep = full.copy()
        for d in short_docs:  # rare: documents shorter than one n-gram
            s, k = int(starts[d]), int(word_counts[d])
            ngram_sum = int((w[s : s + k] * consts[1 : 1 + k]).sum(dtype=np.uint64))
            acc[s] = (k * _NGRAM_CONSTS[0] + ngram_sum) & _MASK64
            keep[s] = True
    counts = np.where(word_counts >= n, word_counts - n + 1, np.minimum(word_counts, 1))
    return (fmix64(acc[keep]) >> np.uint64(32)).astype(np.uint32), counts


BASE_HASHES: dict[str, Callable[[bytes], int]] = {
    "xxh32_ngram": xxh32_ngram_hash,  # the fast path: see ngram_hashes
    "xxh32": xxhash.xxh32_intdigest,
    "xxh3": xxh3_hash32,
    "sha1": sha1_hash32,  # datasketch's default hashfunc
}


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (a bijection), on a uint32 array."""
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int, seed: int, scheme: str) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) permutation parameters datasketch draws for `num_perm`, `seed` and `scheme`."""
    gen = np.random.RandomState(seed)
    if scheme == "legacy":
        # One (a, b) pair per permutation, drawn in that interleaved order.
        pairs = [
            (gen.randint(1, MERSENNE_PRIME, dtype=np.uint64), gen.randint(0, MERSENNE_PRIME, dtype=np.uint64))
            for _ in range(num_perm)
        ]
        params = np.array(pairs, dtype=np.uint64).T
        return params[0].copy(), params[1].copy()
    if scheme == "affine32":
        a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        return a, b
    raise ValueError(f"unknown MinHash scheme {scheme!r}; expected one of {SCHEMES}")


class MinHasher:
    """Signatures of word-shingled documents; one instance per (num_perm, seed, scheme, hash)."""

    def __init__(self, num_perm: int, seed: int, scheme: str, hash_name: str, ngram: int):
        """The values of `dedup.minhash` (num_perm, seed, scheme, hash, ngram); no defaults here."""
        if hash_name not in BASE_HASHES:
            raise ValueError(f"unknown base hash {hash_name!r}; expected one of {sorted(BASE_HASHES)}")
        self.num_perm, self.seed, self.scheme, self.ngram = num_perm, seed, scheme, ngram
        if not 1 <= ngram <= MAX_NGRAM:
            raise ValueError(f"ngram must lie in [1, {MAX_NGRAM}], got {ngram}")
        self.hash_name = hash_name
        self.hashfunc = BASE_HASHES[hash_name]
        self.a, self.b = permutations(num_perm, seed, scheme)
        self.dtype = np.uint32 if scheme == "affine32" else np.uint64
        self.empty_value = self.dtype(MAX_HASH32)  # datasketch's "no element seen" value, both schemes

    # --- hashing ---------------------------------------------------------------------------------
    def hash_values(self, shingles: Sequence[bytes]) -> np.ndarray:
        """Base 32-bit hashes of the shingles (uint32)."""
        return np.fromiter(map(self.hashfunc, shingles), dtype=np.uint32, count=len(shingles))

    def _permuted(self, hv: np.ndarray, out: np.ndarray) -> np.ndarray:
        """Permuted hash values laid out (num_perm, len(hv)) in `out`: row k is permutation k.

        Permutation-major layout: the per-document minimum is then a reduction along contiguous
        memory (`reduceat(axis=1)`), about 10x faster in numpy than reducing along axis 0.
        """
        out = out[:, : len(hv)]
        if self.scheme == "affine32":
            np.multiply(self.a[:, None], fmix32(hv)[None, :], out=out)
            out += self.b[:, None]
            return out
        np.multiply(self.a[:, None], hv.astype(np.uint64)[None, :], out=out)  # wraps mod 2^64, as datasketch
        out += self.b[:, None]
        out %= MERSENNE_PRIME
        out &= MAX_HASH32
        return out

    # --- signatures ------------------------------------------------------------------------------
    def signatures_from_hashes(self, hv: np.ndarray, counts: Sequence[int]) -> np.ndarray:
        """(len(counts), num_perm) signatures; document i owns the next counts[i] values of `hv`."""
        counts = np.asarray(counts, dtype=np.int64)
        out = np.full((len(counts), self.num_perm), self.empty_value, dtype=self.dtype)
        buf = np.empty((self.num_perm, BLOCK_ROWS), dtype=self.dtype)
        starts = np.cumsum(counts) - counts
        docs = np.flatnonzero(counts > 0)  # empty documents keep datasketch's empty signature
        ends = starts[docs] + counts[docs]
        g = 0
        while g < len(docs):
            first = starts[docs[g]]
            # Take every following document that still ends inside this block (at least one).
            j = max(g + 1, int(np.searchsorted(ends, first + BLOCK_ROWS, side="right")))
            last = ends[j - 1]
            if last - first > BLOCK_ROWS:  # one document larger than a block: min over sub-blocks
                sig = out[docs[g]]
                for lo in range(first, last, BLOCK_ROWS):
                    block = self._permuted(hv[lo : min(lo + BLOCK_ROWS, last)], buf)
                    np.minimum(sig, block.min(axis=1), out=sig)
            else:
                block = self._permuted(hv[first:last], buf)
                out[docs[g:j]] = np.minimum.reduceat(block, starts[docs[g:j]] - first, axis=1).T
            g = j
        return out

    def shingle_hashes(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Base hashes of every shingle of every text (flat) and the number of shingles per text."""
        return self.shingle_hashes_of_words([normalized_words(t) for t in texts])

    def shingle_hashes_of_words(self, words: Sequence[list[bytes]]) -> tuple[np.ndarray, np.ndarray]:
        """`shingle_hashes` of documents given as their normalised words."""
        word_counts = np.fromiter(map(len, words), dtype=np.int64, count=len(words))
        if self.hash_name == "xxh32_ngram":
            flat_words = list(chain.from_iterable(words))
            word_hashes = np.fromiter(
                map(xxhash.xxh32_intdigest, flat_words), dtype=np.uint32, count=len(flat_words)
            )
            return ngram_hashes(word_hashes, word_counts, self.ngram)
        shingles = [shingles_of_words(w, self.ngram) for w in words]
        flat = list(chain.from_iterable(shingles))
        return self.hash_values(flat), np.fromiter(map(len, shingles), dtype=np.int64, count=len(shingles))

    def signatures(self, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
        """Signatures of the texts' word shingles and the number of shingles of each text."""
        hv, counts = self.shingle_hashes(texts)
        return self.signatures_from_hashes(hv, counts), counts

    def signature(self, shingles: Sequence[bytes]) -> np.ndarray:
        """The signature of one document given as its shingles (datasketch's `update_batch` input)."""
        return self.signatures_from_hashes(self.hash_values(shingles), [len(shingles)])[0]


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> float:
    """Fraction of equal signature positions: the MinHash estimate of Jaccard similarity."""
    return float(np.count_nonzero(sig_a == sig_b)) / len(sig_a)
