"""A set of millions of strings (blocked domains or URLs) as a sorted array of 64-bit hashes.

The UT1 adult list has ~4.6 M domains. As a Python `set` of `str` it costs ~0.5 GB per process
and several seconds to load from the xz file; every Spark executor process would pay both. Here the
list is hashed once (xxhash64 of the normalised entry), sorted, and written next to nothing but a
cache directory as a `.npy` file; every later process memory-maps it (37 MB, shared through the OS
page cache) and looks keys up with `np.searchsorted`.

False positives from hashing: a key that is not in the list collides with one of the n entries with
probability n / 2**64. For n = 4.6e6 that is 2.5e-13 per key; a URL checks ~3 parent domains and
~3 URL prefixes, so ~1.5e-12 per URL, or about 0.005 wrongly blocked URLs in a 3-billion-URL crawl.
Collisions between two list entries only merge them (no effect on what is blocked).

Entry normalisation (the same function for the list and the lookup keys):
- domains: lowercase, strip whitespace, a leading "www." and a trailing dot;
- URLs (UT1 `urls` format, "host/path" without scheme): lowercase host without "www.", the path
  without query, fragment or trailing slash. A URL is blocked when it or any parent path of it is
  listed (squidGuard urllist semantics, which UT1 lists are written for).
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import lzma
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import xxhash

from pipeline.urls import parent_domains

CACHE_FORMAT_VERSION = 1  # bump when the normalisation or hash changes: old cache files are ignored
_CACHE: dict[tuple, HashedStringSet] = {}  # one load per executor process
_CACHE_LOCK = threading.Lock()


def open_text(path: Path):
    """Open a plain, .xz or .gz text list."""
    if path.suffix == ".xz":
        return lzma.open(path, "rt", encoding="utf-8", errors="replace")
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", errors="replace")
    return open(path, encoding="utf-8", errors="replace")


def read_entries(path: Path) -> Iterator[str]:
    """Non-empty, non-comment lines of a list file, stripped."""
    with open_text(path) as f:
        for line in f:
            line = line.strip()
            if line and not line.startswith("#"):
                yield line


def normalize_domain(domain: str) -> str:
    domain = domain.strip().lower().rstrip(".")
    return domain[4:] if domain.startswith("www.") else domain


def normalize_url_entry(entry: str) -> str:
    """'host/path' key of a list entry or a full URL (scheme, query and fragment dropped)."""
    entry = entry.strip()
    if "://" in entry:
        parts = urlsplit(entry)
        host, path = parts.hostname or "", parts.path
    else:
        host, _, path = entry.partition("/")
        path = "/" + path.split("?", 1)[0].split("#", 1)[0]
        host = host.split(":", 1)[0]
    path = path.rstrip("/")
    return normalize_domain(host) + path


def url_keys(url: str) -> list[str]:
    """The URL's key and the keys of its parent paths: a.com/x/y -> [a.com/x/y, a.com/x]."""
    key = normalize_url_entry(url)
    host, sep, path = key.partition("/")
    if not sep:
        return []
    segments = path.split("/")
    return [host + "/" + "/".join(segments[:i]) for i in range(len(segments), 0, -1)]


def hash_key(key: str) -> int:
    return xxhash.xxh64_intdigest(key.encode("utf-8"))


class HashedStringSet:
    """Membership test over a sorted uint64 array of hashed keys.

    Single-key lookups avoid per-call numpy overhead (microseconds): a bucket table indexed by the
    top bits of the hash narrows the search to a few entries, which are binary-searched through a
    memoryview (plain Python ints). Batches go through `contains_hashes` (np.searchsorted).
    """

    def __init__(self, hashes: np.ndarray):
        self.hashes = hashes  # sorted, unique uint64 (possibly a read-only memmap)
        n = len(hashes)
        self.bucket_bits = min(24, max(1, n.bit_length() - 2))  # ~2-4 entries per bucket
        self.shift = 64 - self.bucket_bits
        starts = np.arange(2**self.bucket_bits, dtype=np.uint64) << np.uint64(self.shift)
        offsets = np.append(np.searchsorted(hashes, starts), n).astype(np.int64)
        self._offsets = memoryview(offsets).cast("B").cast("q")
        self._values = memoryview(np.ascontiguousarray(hashes)).cast("B").cast("Q") if n else None

    def __len__(self) -> int:
        return len(self.hashes)

    def contains_hash(self, h: int) -> bool:
        bucket = h >> self.shift
        lo, hi = self._offsets[bucket], self._offsets[bucket + 1]
        values = self._values
        while lo < hi:
            mid = (lo + hi) >> 1
            v = values[mid]
            if v < h:
                lo = mid + 1
            elif v > h:
                hi = mid
            else:
                return True
        return False

    def contains_hashes(self, hashes: np.ndarray) -> np.ndarray:
        """Vectorised lookup: one bool per hash."""
        if len(self.hashes) == 0:
            return np.zeros(len(hashes), dtype=bool)
        idx = np.searchsorted(self.hashes, hashes)
        idx[idx == len(self.hashes)] = 0
        return self.hashes[idx] == hashes

    def contains_any(self, keys: Iterable[str]) -> bool:
        return any(self.contains_hash(hash_key(k)) for k in keys)

    def __contains__(self, key: str) -> bool:
        return self.contains_hash(hash_key(key))


def _hashes_from_file(path: Path, normalize) -> np.ndarray:
    hashes = np.fromiter((hash_key(normalize(e)) for e in read_entries(path)), dtype=np.uint64)
    return np.unique(hashes)  # sorted + deduplicated


def _cache_file(path: Path, kind: str, cache_dir: Path) -> Path:
    st = path.stat()
    ident = f"{path.resolve()}|{st.st_mtime_ns}|{st.st_size}|{kind}|v{CACHE_FORMAT_VERSION}"
    digest = hashlib.sha1(ident.encode()).hexdigest()[:16]
    return cache_dir / f"blocklist-{kind}-{path.name}-{digest}.npy"


def _load_or_build(path: Path, kind: str, cache_dir: Path | None) -> np.ndarray:
    normalize = normalize_domain if kind == "domain" else normalize_url_entry
    if cache_dir is None:
        return _hashes_from_file(path, normalize)
    cache = _cache_file(path, kind, cache_dir)
    if not cache.exists():
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            return _hashes_from_file(path, normalize)  # read-only home: build in memory, every process
        # Several executor processes may start at once: one builds, the others wait on the lock.
        with open(cache.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not cache.exists():
                hashes = _hashes_from_file(path, normalize)
                tmp = cache.with_suffix(f".tmp{os.getpid()}.npy")
                np.save(tmp, hashes)
                os.replace(tmp, cache)
    return np.load(cache, mmap_mode="r")


def load_hashed_set(paths: list[Path], kind: str, cache_dir: Path | None) -> HashedStringSet:
    """Union of the lists at `paths` (kind "domain" or "url"), loaded once per process.

    The in-process cache is keyed by path, mtime and size, so a list replaced on disk is reloaded.
    """
    if kind not in ("domain", "url"):
        raise ValueError(f"kind must be 'domain' or 'url', got {kind!r}")
    key = (kind, str(cache_dir), tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths))
    with _CACHE_LOCK:
        if key not in _CACHE:
            arrays = [_load_or_build(p, kind, cache_dir) for p in paths]
            # One list (the usual case) stays memory-mapped; several are merged into one array.
            if len(arrays) == 1:
                hashes = arrays[0]
            else:
                hashes = np.unique(np.concatenate(arrays)) if arrays else np.zeros(0, dtype=np.uint64)
            _CACHE[key] = HashedStringSet(hashes)
        return _CACHE[key]


class UrlBlocklist:
    """Domain list (matched on the host and its parent domains) plus URL list (URL and parent paths)."""

    def __init__(self, domains: HashedStringSet, urls: HashedStringSet):
        self.domains = domains
        self.urls = urls

    def domain_blocked(self, host: str) -> bool:
        host = normalize_domain(host)
        return bool(host) and self.domains.contains_any(parent_domains(host))

    def url_blocked(self, url: str) -> bool:
        return self.urls.contains_any(url_keys(url))

    def blocked(self, url: str, host: str) -> bool:
        return self.domain_blocked(host) or self.url_blocked(url)
