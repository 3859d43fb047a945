"""The output layout of a run (DESIGN.md section 5), in one place."""

from __future__ import annotations

import re
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

    config_path(out).parent.mkdir(parents=True, exist_ok=True)
    config_path(out).write_text(yaml.safe_dump(cfg, sort_keys=False))


def lock_path(out: str | Path) -> Path:
    """The run lock: held (flock) by the one process writing OUT; names its holder (pipeline/runlock.py)."""
    return Path(out) / "_run.lock"


def work_dir(out: str | Path, stage: str) -> Path:
    """Scratch space of an attempt; never read as output."""
    return Path(out) / "_work" / stage


def shards_dir(out: str | Path) -> Path:
    return Path(out) / "shards"


def stage_dir(out: str | Path, stage: str) -> Path:
    """The folder whose `_SUCCESS` marks `stage` complete (and records its fingerprint)."""
    return shards_dir(out) if stage == "shards" else docs_dir(out, stage)


def success_path(out: str | Path, stage: str) -> Path:
    return stage_dir(out, stage) / SUCCESS


def stage_done(out: str | Path, stage: str) -> bool:
    """A stage is complete only once its marker exists; the marker is written last."""
    return success_path(out, stage).exists()


# A name from config or data that becomes one path component (a mixing domain, a split): letters,
# digits, '_', '-' and '.', not starting with '.' (so never '..' or a hidden file), at most 100 long.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def path_component(name: object, what: str) -> str:
    """`name` if it is safe as one file/folder name under OUT; else a one-line ValueError naming `what`."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"{what}: {name!r} cannot be used as a file name under the run folder "
            "(letters, digits, '_', '-', '.'; not starting with '.'; at most 100 characters)"
        )
    return name
