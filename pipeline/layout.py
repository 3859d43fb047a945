"""The output layout of a run (DESIGN.md section 5), in one place."""

from __future__ import annotations

from pathlib import Path

# The stages of `crawl-to-shards`, in order; each reads the kept documents of the one before.
STAGES: tuple[str, ...] = ("extract", "filter", "quality", "dedup", "shards")
SUCCESS = "_SUCCESS"


def docs_dir(out: str | Path, stage: str) -> Path:
    return Path(out) / "docs" / stage


def rejected_dir(out: str | Path, stage: str) -> Path:
    return Path(out) / "rejected" / stage


def stats_path(out: str | Path, stage: str) -> Path:
    return Path(out) / "stats" / f"{stage}.parquet"


def config_path(out: str | Path) -> Path:
    """The resolved config the run was made with (reports and re-thresholding read its thresholds)."""
    return Path(out) / "config.yaml"


def save_run_config(cfg: dict, out: str | Path) -> None:
    import yaml

    config_path(out).write_text(yaml.safe_dump(cfg, sort_keys=False))


def work_dir(out: str | Path, stage: str) -> Path:
    """Scratch space of an attempt; never read as output."""
    return Path(out) / "_work" / stage


def shards_dir(out: str | Path) -> Path:
    return Path(out) / "shards"


def stage_done(out: str | Path, stage: str) -> bool:
    """A stage is complete only once its marker exists; the marker is written last."""
    if stage == "shards":
        return (shards_dir(out) / SUCCESS).exists()
    return (docs_dir(out, stage) / SUCCESS).exists()
