"""The input of the end-to-end benchmarks: the real crawl excerpts of ../shared/data/warc_samples (the
`.warc.gz` files, not the deliberately broken warcio-testdata), copied as many times as asked."""

from __future__ import annotations

import shutil
from pathlib import Path

from bench.common.env import DATA


def sample_warcs() -> list[Path]:
    return sorted((DATA / "warc_samples").glob("*.warc.gz"))


def copy_warc_samples(folder: Path, repeats: int = 1) -> Path:
    """`folder` holding `repeats` copies of every sample WARC (kept when already built)."""
    if not folder.exists():
        folder.mkdir(parents=True)
        for copy in range(repeats):
            for src in sample_warcs():
                shutil.copyfile(src, folder / f"r{copy}-{src.name}")
    return folder
