"""Shard-writing helpers with no engine in them: seeded hashing, size-capped shard sets, the manifest.

Determinism rests on two things. Every sampled decision about a document (held-out split, tokenizer
sample, position in the shuffled stream) is a seeded hash of its `doc_id`, never a random draw or a
row position, so Spark's partitioning cannot change it. And shards are written from one stream
sorted by that hash (ties broken by `doc_id`), closing a shard before it would pass the size cap.

Layout and manifest keys follow the shard contract (see `MANIFEST_FORMAT_VERSION` and
`build_manifest`): `<split>/<domain>/<domain>_<NNNNN>.bin/.idx` under the shards directory.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import xxhash

from pipeline import layout
from pipeline.files import sha256_file
from pipeline.shards.megatron import IndexedDatasetWriter, bin_path, idx_path

MANIFEST_FORMAT_VERSION = 1
SPLITS = ("train", "anneal", "val")
_UINT64 = (1 << 64) - 1


def seeded_hash(doc_id: str, seed: int, salt: str) -> int:
    """A uint64 that depends only on (seed, salt, doc_id); `salt` separates independent decisions."""
    return xxhash.xxh64_intdigest(f"{salt}\x00{doc_id}".encode(), seed=seed & _UINT64)


def seeded_hashes(doc_ids, seed: int, salt: str) -> np.ndarray:
    return np.fromiter(
        (seeded_hash(d or "", seed, salt) for d in doc_ids), dtype=np.uint64, count=len(doc_ids)
    )


def unit_interval(hashes: np.ndarray) -> np.ndarray:
    """Map uint64 hashes to floats uniform in [0, 1) (top 53 bits, the float64 mantissa)."""
    return (np.asarray(hashes, dtype=np.uint64) >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def as_sort_key(hashes: np.ndarray) -> np.ndarray:
    """The same hashes as int64 (Spark has no unsigned type); any fixed total order shuffles equally well."""
    return np.asarray(hashes, dtype=np.uint64).view(np.int64)


def val_cutoffs(docs_per_domain: dict[str, int], val_fraction: float, min_val_docs: int) -> dict[str, float]:
    """Per-domain threshold on the split hash: `val_fraction`, raised so a small domain still expects
    `min_val_docs` held-out documents, and never above half the domain."""
    out = {}
    for domain, n in docs_per_domain.items():
        wanted = max(val_fraction, min_val_docs / n) if n else val_fraction
        out[domain] = min(0.5, wanted)
    return out


class ShardSetWriter:
    """Writes one (split, domain) stream as `<root>/<split>/<domain>/<domain>_<NNNNN>.bin/.idx`.

    A shard is closed before a document would push it past `max_shard_tokens` (a single larger
    document gets a shard of its own); documents are never cut.
    """

    def __init__(self, root: str | os.PathLike, split: str, domain: str, dtype, max_shard_tokens: int):
        self.root = Path(root)
        # both become folders under root: checked here, where the path is built
        self.split = layout.path_component(split, "shard split")
        self.domain = layout.path_component(domain, "mixing domain")
        self.dtype = np.dtype(dtype)
        self.max_shard_tokens = int(max_shard_tokens)
        self.entries: list[dict[str, Any]] = []
        self._writer: IndexedDatasetWriter | None = None
        self._prefix = ""

    def add_document(self, tokens: np.ndarray) -> None:
        tokens = np.asarray(tokens)
        self.add_documents(tokens, np.array([tokens.size], dtype=np.int64))

    def add_documents(self, values: np.ndarray, lengths: np.ndarray) -> None:
        """Documents back to back (document i is the next `lengths[i]` ids), cut into shards as
        `add_document` one at a time would, with one write per shard touched."""
        lengths = np.asarray(lengths, dtype=np.int64)
        ends = np.cumsum(lengths)
        first, start = 0, 0  # next document to place, and its first token in `values`
        while first < len(lengths):
            w = self._writer
            room = self.max_shard_tokens - (w.num_tokens if w is not None else 0)
            # documents first..last-1 fit in the room left: their running total stays within it
            last = max(first, int(np.searchsorted(ends, start + room, side="right")))
            if last == first and w is not None and w.num_documents:
                self._close_shard()  # the next document would pass the cap: it starts a new shard
                continue
            last = max(last, first + 1)  # an empty shard takes one document, however long
            if self._writer is None:
                self._open_shard()
            self._writer.add_documents(values[start : ends[last - 1]], lengths[first:last])
            first, start = last, int(ends[last - 1])

    def _open_shard(self) -> None:
        self._prefix = layout.shard_prefix(self.split, self.domain, len(self.entries))
        (self.root / self._prefix).parent.mkdir(parents=True, exist_ok=True)
        self._writer = IndexedDatasetWriter(self.root / self._prefix, self.dtype)

    def _close_shard(self) -> None:
        w = self._writer
        w.finalize()
        full = self.root / self._prefix
        self.entries.append(
            {
                "split": self.split,
                "domain": self.domain,
                "prefix": self._prefix,
                "docs": w.num_documents,
                "tokens": w.num_tokens,
                "sha256_bin": sha256_file(bin_path(full)),
                "sha256_idx": sha256_file(idx_path(full)),
            }
        )
        self._writer = None

    def close(self) -> list[dict[str, Any]]:
        if self._writer is not None:
            self._close_shard()
        return self.entries


def domain_totals(shards: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Per-domain docs/tokens for each split, summed from the shard entries."""
    out: dict[str, dict[str, int]] = {}
    for shard in shards:
        row = out.setdefault(
            shard["domain"],
            {f"{p}{k}": 0 for p in ("", "anneal_", "val_") for k in ("docs", "tokens")},
        )
        prefix = "" if shard["split"] == "train" else f"{shard['split']}_"
        row[f"{prefix}docs"] += shard["docs"]
        row[f"{prefix}tokens"] += shard["tokens"]
    return dict(sorted(out.items()))


def build_manifest(
    *,
    tokenizer: dict[str, Any],
    dtype: np.dtype,
    mixture: dict[str, Any],
    shards: list[dict[str, Any]],
    anneal_hq_weight: float,
    quality_model: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The manifest.json document (paths relative to the shards directory)."""
    order = {split: i for i, split in enumerate(SPLITS)}
    shards = sorted(shards, key=lambda s: (order[s["split"]], s["domain"], s["prefix"]))
    manifest = {
        "format_version": MANIFEST_FORMAT_VERSION,
        "tokenizer": tokenizer,
        "dtype": np.dtype(dtype).name,
        "quality_model": quality_model,
        "mixture": mixture,
        "domains": domain_totals(shards),
        "anneal": {"hq_weight": anneal_hq_weight},
        "shards": shards,
    }
    manifest.update(extra or {})
    return manifest
