"""The output layout of a run (DESIGN.md section 5), in one place."""

from __future__ import annotations

from pathlib import Path

# The stages of `crawl-to-shards`, in order; each reads the kept documents of the one before.
STAGES: tuple[str, ...] = ("extract", "filter", "quality", "dedup", "decontam", "shards")
SUCCESS = "_SUCCESS"


def docs_dir(out: str | Path, stage: str) -> Path:
    return Path(out) / "docs" / stage


def rejected_dir(out: str | Path, stage: str) -> Path:
    return Path(out) / "rejected" / stage


def stats_path(out: str | Path, stage: str) -> Path:
    return Path(out) / "stats" / f"{stage}.parquet"


def stage_table_path(out: str | Path, stage: str, table: str) -> Path:
    """A stage's extra stats table, e.g. `OUT/stats/filter_breakdown.parquet`."""
    return Path(out) / "stats" / f"{stage}_{table}.parquet"


def decontam_items_path(out: str | Path) -> Path:
    """The contamination report: one row per benchmark item found in the crawl."""
    return stage_table_path(out, "decontam", "items")


def decontam_sets_path(out: str | Path) -> Path:
    """The contamination report per eval set: the fraction of its items found in the crawl."""
    return stage_table_path(out, "decontam", "sets")


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
