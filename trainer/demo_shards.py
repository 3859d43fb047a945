"""Small synthetic shards (Megatron format + manifest) for tests, benchmarks and smoke runs.

Each domain is a different noisy linear-congruential "language": token t+1 = (a * t + b) mod V with
probability 1 - noise, else uniform. A model learns these quickly (so the loss visibly falls) and the
per-domain validation losses differ, which is what the mixing fit needs. Every document ends with EOS.
The layout and manifest follow the shards contract (train / anneal / val splits per domain).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from mixing.budget import DEFAULT_E_MAX
from pipeline import layout
from pipeline.config import default
from pipeline.files import sha256_file
from pipeline.shards.megatron import IndexedDatasetWriter, bin_path, idx_path

EOS_ID = 2
FIRST_ID = 3  # ids 0..2 are unk / bos / eos, as in sentencepiece


def _document(
    rng: np.random.Generator, band: tuple[int, int], a: int, b: int, noise: float, length: int
) -> np.ndarray:
    first, span = band
    tokens = np.empty(length, dtype=np.int64)
    t = int(rng.integers(span))
    for i in range(length - 1):
        t = int(rng.integers(span)) if rng.random() < noise else (a * t + b) % span
        tokens[i] = first + t
    tokens[-1] = EOS_ID
    return tokens


def token_band(vocab_size: int, num_domains: int, band: int) -> tuple[int, int]:
    """(first id, width) of band `band` when the ids above EOS are cut into 2 bands per domain."""
    width = (vocab_size - FIRST_ID) // (2 * num_domains)
    return FIRST_ID + band * width, width


def write_demo_shards(
    out: str | Path,
    domains: dict[str, float] | None = None,
    *,
    vocab_size: int = 512,
    docs_per_domain: int = 60,
    anneal_docs: int = 12,
    val_docs: int = 6,
    doc_len: tuple[int, int] = (20, 200),
    hq_weight: float | None = None,  # None: mix.shards.anneal_hq_weight of configs/default.yaml
    seed: int = 0,
    disjoint_vocab: bool = False,
) -> Path:
    """Write OUT/shards/{train,anneal,val}/<domain>/... and manifest.json; returns the shards dir.

    With `disjoint_vocab`, domain i's train/val documents use only the ids of band 2i and its anneal (hq)
    documents those of band 2i + 1 (see `token_band`), so tests can tell every token's origin."""
    domains = domains or {"news": 0.5, "forum": 0.3, "reference": 0.2}
    shards = layout.shards_dir(out)
    rng = np.random.default_rng(seed)
    entries, per_domain = [], {}
    for index, domain in enumerate(sorted(domains)):
        a, b = 2 * index + 3, 7 * index + 1  # each domain its own transition rule
        stats = per_domain.setdefault(domain, {})
        splits = (("train", docs_per_domain, 0.3), ("anneal", anneal_docs, 0.1), ("val", val_docs, 0.3))
        for split, count, noise in splits:
            band = (
                token_band(vocab_size, len(domains), 2 * index + (split == "anneal"))
                if disjoint_vocab
                else (FIRST_ID, vocab_size - FIRST_ID)
            )
            prefix = shards / layout.shard_prefix(split, domain, 0)
            prefix.parent.mkdir(parents=True, exist_ok=True)
            with IndexedDatasetWriter(prefix, np.uint16) as writer:
                for _ in range(count):
                    length = int(rng.integers(doc_len[0], doc_len[1] + 1))
                    writer.add_document(_document(rng, band, a, b, noise, length))
            key = {"train": "", "anneal": "anneal_", "val": "val_"}[split]
            stats[f"{key}docs"], stats[f"{key}tokens"] = writer.num_documents, writer.num_tokens
            entries.append(
                {
                    "split": split,
                    "domain": domain,
                    "prefix": str(prefix.relative_to(shards)),
                    "docs": writer.num_documents,
                    "tokens": writer.num_tokens,
                    "sha256_bin": sha256_file(bin_path(prefix)),
                    "sha256_idx": sha256_file(idx_path(prefix)),
                }
            )
    total = sum(domains.values())
    manifest = {
        "format_version": 1,
        "tokenizer": {
            "path": None,
            "sha256": None,
            "vocab_size": vocab_size,
            "type": "synthetic",
            "eos_id": EOS_ID,
        },
        "dtype": "uint16",
        "quality_model": None,
        "mixture": {
            "source": "config",
            "weights": {d: w / total for d, w in domains.items()},
            "epochs": {d: 1.0 for d in domains},
            "token_budget": sum(s["tokens"] for s in per_domain.values()),
            "e_max": DEFAULT_E_MAX,
        },
        "domains": per_domain,
        "anneal": {"hq_weight": default("mix.shards.anneal_hq_weight") if hq_weight is None else hq_weight},
        "shards": entries,
    }
    layout.manifest_path(shards).write_text(json.dumps(manifest, indent=2))
    return shards
