"""Writing stage outputs atomically, in one pass: kept documents, rejected documents and stats.

One Spark job runs a chain of narrow stages (`StageStep`s: one stage alone, or extract → filter
fused) over each partition. Every task writes, per stage, its kept rows, its rejected rows and a
text-free projection (drop_reason + numeric signals) as Parquet files in its own attempt folder
under `OUT/_work/<stage>/`, and counts as it writes (`pipeline.stats.StageCounts`: rows and bytes
per drop reason, line-rule totals, the breakdown table, each signal's min and max). The task
returns only its file list and counts; a task that failed or was retried returns nothing, so its
files are never used. The kept rows of one stage stream straight into the next stage of the chain.

On the driver: the counts of all tasks are merged into the exact stats rows and breakdown; the
histograms are binned from the projection (`jobs.stats_tables`: with pyarrow on the driver when it is
small, else one Spark job); `publish` moves the pieces into place,
the documents folder with its `_SUCCESS` last in one rename: a run killed at any point before it
leaves no output that a rerun (or the next stage) would read as complete, and a complete old output
stays in place until the new one is complete.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.frames import read_parquet
from jobs.session import PARQUET_CODEC
from jobs.stats_tables import histograms
from pipeline import layout
from pipeline.faults import fault_point
from pipeline.schema import conform
from pipeline.stats import StageCounts, signal_columns, stats_table

log = logging.getLogger(__name__)

Batches = Iterator[pa.RecordBatch]
OUTPUTS = ("docs", "rejected", "signals")  # per stage and task: kept rows, rejected rows, projection
ROW_GROUP_BYTES = 32 << 20  # buffered rows per output file before a row group is written


@dataclass(frozen=True)
class StageStep:
    """One narrow stage of a pass: its output schema, the rules its stats count, how it turns a
    partition's batches into its output batches (`None`: the input rows are already its output), and
    its own side tables (name -> function of its full output, as `extra_tables` of `write_stage`)."""

    name: str
    schema: pa.Schema
    rules: tuple[str, ...] = ()
    transform: Callable[[Batches], Batches] | None = None
    line_rules: dict[str, tuple[str, str]] = field(default_factory=dict)
    size_col: str = "text"
    tables: dict[str, Callable[[Any], pa.Table]] = field(default_factory=dict)


def write_stage(
    df,
    out: str,
    stage: str,
    rules: list[str] | tuple[str, ...],
    line_rules: dict[str, tuple[str, str]] | None = None,
    size_col: str = "text",
    extra_stats: list[dict] | None = None,
    extra_tables: dict[str, Callable[[Any], pa.Table]] | None = None,
) -> list[dict]:
    """Write `df` (every row, `drop_reason` set on rejects) as the output of `stage`; return stats rows.

    `extra_tables` maps a name to a function of the full stage output (a DataFrame) returning a small
    Arrow table; it is published as `OUT/stats/<stage>_<name>.parquet` with the rest of the stage.
    """
    from jobs.frames import arrow_schema

    step = StageStep(stage, arrow_schema(df), tuple(rules), None, dict(line_rules or {}), size_col)
    return write_stages(df, [step], out, {stage: extra_stats or []}, {stage: extra_tables or {}})[stage]


def write_stages(
    df,
    steps: list[StageStep],
    out: str,
    extra_stats: dict[str, list[dict]] | None = None,
    extra_tables: dict[str, dict[str, Callable[[Any], pa.Table]]] | None = None,
) -> dict[str, list[dict]]:
    """Run `steps` in order over `df` in one Spark job and publish each stage; stats rows per stage."""
    spark = df.sparkSession
    for step in steps:
        shutil.rmtree(layout.work_dir(out, step.name), ignore_errors=True)
    folders = {step.name: str(layout.work_dir(out, step.name)) for step in steps}
    manifests = [
        json.loads(row["manifest"])
        for row in df.mapInArrow(_pass(steps, folders), "manifest string").collect()
    ]
    for step in steps:
        fault_point(f"scratch:{step.name}")

    results = {}
    for step in steps:
        work = layout.work_dir(out, step.name)
        counts = _counts(step)
        files: dict[str, list[str]] = {kind: [] for kind in OUTPUTS}
        for manifest in manifests:
            mine = manifest[step.name]
            counts.merge(_counts(step).load_json(mine["counts"]))
            for kind in OUTPUTS:
                files[kind] += mine["files"].get(kind, [])
        for kind in ("docs", "rejected"):
            _gather(files[kind], work / kind, step.schema)
        rows = counts.stats_rows(step.name, step.rules) + list((extra_stats or {}).get(step.name, []))
        pq.write_table(stats_table(rows), work / "stats.parquet")
        pq.write_table(counts.breakdown_table(step.name), work / "breakdown.parquet")
        hist = histograms(spark, files["signals"], step.name, counts.bounds)
        if hist is not None:
            pq.write_table(hist, work / "histograms.parquet")
        tables = {**step.tables, **(extra_tables or {}).get(step.name, {})}
        if tables:
            full = read_parquet(spark, work / "docs", work / "rejected")
            for name, build in tables.items():
                pq.write_table(build(full), work / f"{name}.parquet")
        stage_tables = ["breakdown", "histograms", *tables]
        publish(
            out,
            step.name,
            work,
            [
                (work / "rejected", layout.rejected_dir(out, step.name)),
                (work / "stats.parquet", layout.stats_path(out, step.name)),
                *((work / f"{t}.parquet", layout.stage_table_path(out, step.name, t)) for t in stage_tables),
                (work / "docs", layout.docs_dir(out, step.name)),
            ],
        )
        total = rows[0]
        log.info(
            "%s: %d documents in, %d kept",
            step.name,
            total["docs_in"],
            total["docs_in"] - total["docs_dropped"],
        )
        results[step.name] = rows
    return results


def _counts(step: StageStep) -> StageCounts:
    return StageCounts(step.size_col, step.line_rules, signal_columns(step.schema))


def _pass(steps: list[StageStep], folders: dict[str, str]) -> Callable[[Batches], Batches]:
    """The function each task runs: the chain of stages over its partition, writing as it goes."""

    def run_partition(batches: Batches) -> Batches:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part, attempt = ctx.partitionId(), ctx.taskAttemptId()
        sinks = [_Sink(step, Path(folders[step.name]) / f"attempt-{attempt}", part) for step in steps]
        stream = batches
        for step, sink in zip(steps, sinks):
            stream = sink.write(step.transform(stream) if step.transform else stream)
        for _ in stream:  # pull every batch through the chain
            pass
        manifest = {step.name: sink.manifest() for step, sink in zip(steps, sinks)}
        yield pa.RecordBatch.from_pylist([{"manifest": json.dumps(manifest)}])

    return run_partition


class _Sink:
    """One stage's outputs in one task: Parquet files written as batches pass, and their counts."""

    def __init__(self, step: StageStep, folder: Path, part: int):
        self.step, self.folder, self.name = step, folder, f"part-{part:05d}.parquet"
        self.counts = _counts(step)
        self.projection = ["drop_reason", *self.counts.signals]
        self.buffers: dict[str, list[pa.RecordBatch]] = {kind: [] for kind in OUTPUTS}
        self.buffered_bytes = dict.fromkeys(OUTPUTS, 0)
        self.writers: dict[str, pq.ParquetWriter] = {}

    def write(self, batches: Batches) -> Batches:
        """Write every batch; pass on the kept rows (the next stage's input)."""
        for batch in batches:
            batch = conform(batch, self.step.schema)
            self.counts.add(batch)
            kept_mask = pc.is_null(batch.column("drop_reason"))
            kept = batch.filter(kept_mask)
            self._buffer("docs", kept)
            self._buffer("rejected", batch.filter(pc.invert(kept_mask)))
            self._buffer("signals", batch.select(self.projection))
            if kept.num_rows:
                yield kept
        for kind in OUTPUTS:
            self._flush(kind)
            if kind in self.writers:
                self.writers[kind].close()

    def _buffer(self, kind: str, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.buffers[kind].append(batch)
            self.buffered_bytes[kind] += batch.nbytes
            if self.buffered_bytes[kind] >= ROW_GROUP_BYTES:
                self._flush(kind)

    def _flush(self, kind: str) -> None:
        if not self.buffers[kind]:
            return
        table = pa.Table.from_batches(self.buffers[kind])
        if kind not in self.writers:
            (self.folder / kind).mkdir(parents=True, exist_ok=True)
            path = self.folder / kind / self.name
            self.writers[kind] = pq.ParquetWriter(path, table.schema, compression=PARQUET_CODEC)
        self.writers[kind].write_table(table)
        self.buffers[kind], self.buffered_bytes[kind] = [], 0

    def manifest(self) -> dict:
        files = {kind: [str(self.folder / kind / self.name)] for kind in self.writers}
        return {"files": files, "counts": self.counts.to_json()}


def _gather(files: list[str], target: Path, schema: pa.Schema) -> None:
    """Move the files of the successful task attempts into `target`; an empty output still gets one
    (empty) file so readers know its schema."""
    target.mkdir(parents=True, exist_ok=True)
    for path in files:
        Path(path).rename(target / Path(path).name)
    if not files:
        pq.write_table(schema.empty_table(), target / "part-00000.parquet", compression=PARQUET_CODEC)


def publish(out: str, stage: str, work: Path, pieces: list[tuple[Path, Path]]) -> None:
    """The one publish step of every stage: (scratch source, layout target) pairs, the LAST of which is
    the folder that holds the stage's `_SUCCESS`. The marker is written into that folder while it is
    still in scratch; the old complete outputs are moved aside (renames: a reader keeps its open files)
    starting with the marked one, so the stage reads as unfinished while pieces move; the marked folder
    lands last with one rename, complete the moment it appears. A piece not produced is skipped."""
    *others, (marked, marked_target) = pieces
    (marked / layout.SUCCESS).write_text("")
    others = [(source, target) for source, target in others if source.exists()]
    retire_output([marked_target, *(target for _, target in others)], work / "previous")
    for source, target in others:
        source.rename(target)
    fault_point(f"publish:{stage}")
    marked.rename(marked_target)
    shutil.rmtree(work, ignore_errors=True)


def retire_output(targets: list[Path], previous: Path) -> None:
    """Move complete old outputs aside (renames, so a reader that has them open keeps reading them);
    `previous` is scratch, deleted with it. The first target moved is the one holding `_SUCCESS`."""
    previous.mkdir(parents=True, exist_ok=True)
    for i, target in enumerate(targets):
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.exists():
            target.rename(previous / f"{i}_{target.name}")
