"""`python -m trainer ablate-variants`: one knob, several values, one `crawl-to-shards` per value, then `ablate`.

    python -m trainer ablate-variants --input ../shared/data/warc_samples --out runs/sel \
        --vary quality.selection=none,threshold

Each value gets its own run folder OUT/variants/<key>=<value>. The stages before the one the key configures
are computed once: the first variant runs them, and every later variant starts from links to those
finished outputs (their `_SUCCESS` markers make `crawl-to-shards` skip them), so only the varied stage and
the stages after it run again.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from pipeline import layout, stages


def varied_stage(key: str) -> str:
    """The first stage whose output depends on `key`: the config sections each stage reads are declared
    once, in pipeline/stages.py (its fingerprint reads them too). A key no stage reads (spark.*) shares nothing."""
    for stage in stages.STAGES:
        for read in stage.reads:
            if key == read or key.startswith(read + ".") or read.startswith(key + "."):
                return stage.name
    return stages.NAMES[0]


def parse_vary(vary: str) -> tuple[str, list]:
    key, sep, values = vary.partition("=")
    if not sep or not key or not values:
        raise ValueError(f"--vary {vary!r}: expected KEY=VALUE1,VALUE2[,...]")
    parsed = [yaml.safe_load(v) for v in values.split(",")]
    if len(parsed) < 2:
        raise ValueError(f"--vary {vary!r}: give at least two values to compare")
    return key, parsed


def share_upstream(first: Path, target: Path, stage: str) -> list[str]:
    """Link `first`'s finished stages before `stage` into `target`; returns the stages linked."""
    linked = []
    for upstream in stages.NAMES[: stages.NAMES.index(stage)]:
        if not layout.stage_done(first, upstream):
            break
        for src, dst in (
            (layout.docs_dir(first, upstream), layout.docs_dir(target, upstream)),
            (layout.rejected_dir(first, upstream), layout.rejected_dir(target, upstream)),
            (layout.stats_path(first, upstream), layout.stats_path(target, upstream)),
        ):
            if src.exists() and not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(src.resolve(), dst)
        linked.append(upstream)
    return linked


def run_variants(inputs: list[str], out: str | Path, vary: str, config: str | None = None) -> list[Path]:
    """One crawl-to-shards per value (sharing the upstream stages); returns the run folders in value order."""
    key, values = parse_vary(vary)
    stage = varied_stage(key)
    runs: list[Path] = []
    for value in values:
        run = layout.variant_dir(out, key, value)
        run.mkdir(parents=True, exist_ok=True)
        if runs:
            linked = share_upstream(runs[0], run, stage)
            print(
                f"[variants] {run.name}: reusing {', '.join(linked) or 'nothing'} from {runs[0].name}",
                flush=True,
            )
        cmd = [
            sys.executable,
            "-m",
            "jobs",
            "crawl-to-shards",
            "--output",
            str(run),
            "--set",
            f"{key}={value}",
        ]
        cmd += [arg for i in inputs for arg in ("--input", i)]
        if config:
            cmd += ["--config", config]
        subprocess.run(cmd, check=True)
        runs.append(run)
    return runs
