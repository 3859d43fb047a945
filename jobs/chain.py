"""`crawl-to-shards`: the stages of DESIGN.md in order, each skipped when its output is complete.

Each stage module in `jobs/` exposes `run(spark, cfg, inp, out) -> stats rows`; a stage reads the
kept documents of the stage before it (`pipeline.layout.STAGES` fixes the order).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import jobs.decontam
import jobs.dedup
import jobs.extract
import jobs.filter
import jobs.quality
import jobs.shards
from jobs.failures import StageOutOfMemory, is_out_of_memory, memory_hint
from pipeline import fingerprint, layout
from pipeline.fixtures.faults import fault_point
from pipeline.runlock import run_lock

log = logging.getLogger(__name__)

StageRun = Callable[[Any, dict[str, Any], Any, str], list[dict]]

# stage name -> its Spark job; the keys are exactly `layout.STAGES`.
STAGE_RUNS: dict[str, StageRun] = {
    "extract": jobs.extract.run,
    "filter": jobs.filter.run,
    "quality": jobs.quality.run,
    "dedup": jobs.dedup.run,
    "decontam": jobs.decontam.run,
    "shards": jobs.shards.run,
}
assert tuple(STAGE_RUNS) == layout.STAGES, "jobs/chain.py and pipeline/layout.py disagree on the stages"


def stage_fingerprint(cfg: dict[str, Any], stage: str, inp) -> dict[str, str]:
    """What `stage` would be made from now; raises MissingInput when its input is unfinished."""
    if stage == layout.STAGES[0]:
        return fingerprint.expected(cfg, stage, fingerprint.warc_input_fingerprint(inp))
    folder = inp[0] if isinstance(inp, list) else inp
    return fingerprint.expected(cfg, stage, fingerprint.docs_input_fingerprint(folder))


def run_stage(
    spark, cfg: dict[str, Any], stage: str, inp, out: str, force: bool = False
) -> list[dict] | None:
    """Run `stage` unless its complete output was made from the same input and config (and not `force`)."""
    with run_lock(out):
        want = stage_fingerprint(cfg, stage, inp)
        if layout.stage_done(out, stage) and not force:
            if fingerprint.is_current(out, stage, want):
                print(f"[{stage}] already complete in {out}: skipped", flush=True)
                return None
            print(f"[{stage}] input or config changed since its output was made: rerunning", flush=True)
        start = time.monotonic()
        print(f"[{stage}] running ...", flush=True)
        layout.save_run_config(cfg, out)  # only a stage that runs records the config it runs with
        hint = memory_hint(spark)
        try:
            rows = STAGE_RUNS[stage](spark, cfg, inp, out)
        except Exception as exc:
            if is_out_of_memory(spark, exc):
                raise StageOutOfMemory(f"stage {stage} ran out of memory: {hint}") from exc
            raise
        fingerprint.record(out, stage, want)
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
    with run_lock(out):
        for stage in stages:
            stage_input = inp if previous is None else str(layout.docs_dir(out, previous))
            fault_point(f"before:{stage}")
            run_stage(spark, cfg, stage, stage_input, out)
            done.append(stage)
            previous = stage
    return done
