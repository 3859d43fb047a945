"""Small file helpers shared by the stages: where a configured path points, and file provenance."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]


def resolve_path(path: str | os.PathLike) -> Path:
    """A configured path: absolute, "~/...", or relative to the repository root (as default.yaml writes them)."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else REPO_ROOT / p


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks (models and shards can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
