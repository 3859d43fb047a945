"""`crawl-to-shards`: the stages of DESIGN.md in order, each skipped when its output is complete.

Each stage module in `jobs/` exposes `run(spark, cfg, inp, out) -> stats rows`; a stage reads the
kept documents of the stage before it. A stage whose module is not there yet is reported as
missing and the chain stops there rather than pretending.
"""

from __future__ import annotations

import importlib
import logging
import time
from typing import Any

from pipeline import layout
from pipeline.faults import fault_point

log = logging.getLogger(__name__)


def stage_module(stage: str):
    try:
        return importlib.import_module(f"jobs.{stage}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"jobs.{stage}",):
            return None
        raise


def run_stage(
    spark, cfg: dict[str, Any], stage: str, inp, out: str, force: bool = False
) -> list[dict] | None:
    if layout.stage_done(out, stage) and not force:
        print(f"[{stage}] already complete in {out}: skipped", flush=True)
        return None
    module = stage_module(stage)
    if module is None:
        raise SystemExit(f"stage {stage!r} is not implemented in this build")
    start = time.monotonic()
    print(f"[{stage}] running ...", flush=True)
    rows = module.run(spark, cfg, inp, out)
    total = next((r for r in rows or [] if r.get("rule") == "_total"), None)
    summary = (
        f"{total['docs_in']} docs in, {total['docs_in'] - total['docs_dropped']} kept" if total else "done"
    )
    print(f"[{stage}] {summary} ({time.monotonic() - start:.1f} s)", flush=True)
    return rows


def crawl_to_shards(
    spark, cfg: dict[str, Any], inp, out: str, stages: tuple[str, ...] = layout.STAGES
) -> list[str]:
    """Run the chain; returns the stages that ran or were already complete."""
    done = []
    previous = None
    for stage in stages:
        if stage_module(stage) is None:
            missing = [s for s in stages if s not in done]
            print(f"stages not available yet in this build: {', '.join(missing)}; stopping after {previous}")
            break
        stage_input = inp if previous is None else str(layout.docs_dir(out, previous))
        fault_point(f"before:{stage}")
        run_stage(spark, cfg, stage, stage_input, out)
        done.append(stage)
        previous = stage
    return done
