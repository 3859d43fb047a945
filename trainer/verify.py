"""Check the shards against their manifest before any Ray process starts.

A corrupt, truncated or swapped shard otherwise fails training only after Ray has started, retried
three times and printed an error that names no file ("buffer is smaller than requested size"), or
worse, trains on it with exit code 0. For each shard the manifest lists, in manifest order: its
prefix stays inside the shards folder, `.bin` holds exactly `tokens` tokens of the manifest's dtype,
both files' sha256 match, and no token id reaches the tokenizer's vocabulary size. The first problem
is one `ShardError` line naming the file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.files import sha256_file
from pipeline.shards.megatron import bin_path, idx_path

CHUNK_TOKENS = 1 << 24  # token ids checked per step: bounded memory for any shard size


class ShardError(ValueError):
    """A shard that does not match its manifest; the message is one line naming the file."""


def verify_shards(shards_dir: str | Path, manifest: dict, *, sha256: bool = True) -> int:
    """Raise ShardError on the first shard that does not match `manifest`; return the shards checked.
    `sha256=False` skips the hashes, for a copy whose hashes were just checked (trainer/shard_cache.py)."""
    root = Path(shards_dir).resolve()
    dtype = np.dtype(manifest["dtype"])
    vocab = int(manifest["tokenizer"]["vocab_size"])
    for shard in manifest["shards"]:
        prefix = (root / shard["prefix"]).resolve()
        if not prefix.is_relative_to(root):
            raise ShardError(f"manifest shard prefix {shard['prefix']!r} points outside {root}")
        binary, index = Path(bin_path(prefix)), Path(idx_path(prefix))
        for path in (binary, index):
            if not path.is_file():
                raise ShardError(f"{path}: missing (listed in {root}/manifest.json)")
        expected = int(shard["tokens"]) * dtype.itemsize
        if binary.stat().st_size != expected:
            raise ShardError(
                f"{binary}: {binary.stat().st_size} bytes, the manifest says {shard['tokens']} tokens "
                f"= {expected} bytes (truncated or replaced)"
            )
        for path, key in ((binary, "sha256_bin"), (index, "sha256_idx")):
            if sha256 and key in shard and sha256_file(path) != shard[key]:
                raise ShardError(f"{path}: sha256 differs from the manifest (corrupt or replaced)")
        tokens = np.memmap(binary, dtype=dtype, mode="r") if expected else np.zeros(0, dtype)
        for start in range(0, len(tokens), CHUNK_TOKENS):
            top = int(tokens[start : start + CHUNK_TOKENS].max())
            if top >= vocab:
                raise ShardError(f"{binary}: token id {top} >= the tokenizer's vocab size {vocab}")
    return len(manifest["shards"])
