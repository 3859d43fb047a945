"""`crawl-to-shards`: the stages of DESIGN.md in order, each skipped when its output is complete.

Each stage's job (`pipeline.stages.runner`) is `run(spark, cfg, inp, out) -> stats rows`; a stage reads the
kept documents of the stage before it (`pipeline.stages` declares them in order). When extract is
due in `crawl-to-shards`, extract and filter run fused: one Spark pass per WARC file extracts,
filters and writes both stages' kept rows, rejected rows and stats, so the text is never written out
and read back between them. Each stage is still committed, fingerprinted and resumable on its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import jobs.extract
import jobs.rowwise
from jobs.failures import StageOutOfMemory, is_out_of_memory, memory_hint
from jobs.output import write_stages
from pipeline import commit, fingerprint, layout
from pipeline.faults import fault_point
from pipeline.runlock import run_lock
from pipeline.stages import FUSED, NAMES, default_input, output_dir, runner

log = logging.getLogger(__name__)


def stage_fingerprint(cfg: dict[str, Any], stage: str, inp) -> dict[str, str]:
    """What `stage` would be made from now; raises MissingInput when its input is unfinished."""
    return fingerprint.current(cfg, stage, inp)


def run_stage(
    spark, cfg: dict[str, Any], stage: str, inp, out: str, force: bool = False
) -> list[dict] | None:
    """Run `stage` unless its complete output was made from the same input and config (and not `force`)."""
    with run_lock(out):
        want = stage_fingerprint(cfg, stage, inp)
        if not _due(out, stage, want, force):
            return None
        start = time.monotonic()
        print(f"[{stage}] running ...", flush=True)
        layout.save_run_config(cfg, out)  # only a stage that runs records the config it runs with
        with commit.recording({stage: want}):  # the stage's marker records it, in its one write
            rows = _guarded(spark, stage, lambda: runner(stage)(spark, cfg, inp, out))
    _summary(stage, rows, time.monotonic() - start)
    return rows


def _due(out: str, stage: str, want: dict[str, str], force: bool = False) -> bool:
    """Whether `stage` has to run: no complete output, or one made from another input or config."""
    if layout.stage_done(out, stage) and not force:
        if fingerprint.is_current(out, stage, want):
            print(f"[{stage}] already complete in {out}: skipped", flush=True)
            return False
        print(f"[{stage}] input or config changed since its output was made: rerunning", flush=True)
    return True


def _guarded(spark, stage: str, work: Callable[[], Any]) -> Any:
    """`work()`, with an out-of-memory failure turned into a one-line StageOutOfMemory."""
    hint = memory_hint(spark)
    try:
        return work()
    except Exception as exc:
        if is_out_of_memory(spark, exc):
            raise StageOutOfMemory(f"stage {stage} ran out of memory: {hint}") from exc
        raise


def _summary(stage: str, rows: list[dict] | None, seconds: float) -> None:
    total = next((r for r in rows or [] if r.get("rule") == "_total"), None)
    summary = (
        f"{total['docs_in']} docs in, {total['docs_in'] - total['docs_dropped']} kept" if total else "done"
    )
    print(f"[{stage}] {summary} ({seconds:.1f} s)", flush=True)


def run_fused(spark, cfg: dict[str, Any], inp, out: str) -> None:
    """Extract and filter in one pass over the WARC files; each stage published and fingerprinted on
    its own, as if run alone (filter's fingerprint is taken from extract's marker once it is written)."""
    with run_lock(out):
        want_extract = stage_fingerprint(cfg, FUSED[0], inp)
        start = time.monotonic()
        print(f"[{' + '.join(FUSED)}] running fused ...", flush=True)
        layout.save_run_config(cfg, out)
        extract = jobs.extract.step(cfg)
        steps = [extract, jobs.rowwise.stage_step(FUSED[1], cfg, extract.schema)]
        paths = jobs.extract.input_paths(cfg, inp)
        filter_input = default_input(out, FUSED[1])
        made_from = {
            FUSED[0]: want_extract,
            # taken when filter's marker is written, from extract's marker written just before it
            FUSED[1]: lambda: stage_fingerprint(cfg, FUSED[1], filter_input),
        }
        with commit.recording(made_from):
            stats = _guarded(
                spark, "+".join(FUSED), lambda: write_stages(jobs.extract.files(spark, paths), steps, out)
            )
    for stage in FUSED:
        _summary(stage, stats[stage], time.monotonic() - start)


def crawl_to_shards(spark, cfg: dict[str, Any], inp, out: str, stages: tuple[str, ...] = NAMES) -> list[str]:
    """Run the chain (`stages`, in order); returns the stages that ran or were already complete."""
    done: list[str] = []
    with run_lock(out):
        while len(done) < len(stages):
            stage = stages[len(done)]
            stage_input = inp if not done else str(output_dir(out, done[-1]))  # the chain's previous stage
            fault_point(f"before:{stage}")
            fusable = tuple(stages[len(done) : len(done) + len(FUSED)]) == FUSED
            current = layout.stage_done(out, stage) and fingerprint.is_current(
                out, stage, stage_fingerprint(cfg, stage, stage_input)
            )
            if fusable and not current:
                run_fused(spark, cfg, stage_input, out)
                done.extend(FUSED)
            else:
                run_stage(spark, cfg, stage, stage_input, out)
                done.append(stage)
    return done
