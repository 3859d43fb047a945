"""Writing stage outputs in one pass and committing them: kept documents, rejected documents and stats.

One Spark job runs a chain of narrow stages (`StageStep`s: one stage alone, or extract → filter
fused) over each partition. Every task writes, per stage, its kept rows and its rejected rows
straight into the stage's folders (OUT/docs/<stage>, OUT/rejected/<stage>) under a name no other
task attempt uses, and a text-free projection (drop_reason + numeric signals) into scratch
(`OUT/_work/<stage>/`); it counts as it writes (`pipeline.stats.StageCounts`: rows and bytes per drop
reason, line-rule totals, the breakdown table, each signal's min and max). The task returns only its
file list and counts; a task that failed or was retried returns nothing, so its files are never
listed. The kept rows of one stage stream straight into the next stage of the chain.

On the driver: the counts of all tasks are merged into the exact stats rows and breakdown; the
histograms are binned from the projection (`jobs.stats_tables`: with pyarrow on the driver when it is
small, else one Spark job); the stats tables are written, and then the stage's `_SUCCESS`, last, in
one write, listing every file of the output (`pipeline.commit`). Nothing is renamed, so this is the
same on local disk and object stores: a run killed at any point before the marker leaves the previous
complete output readable (its marker lists it) and no new output that reads as complete.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.arrow_io import part_name, read_files
from jobs.session import PARQUET_CODEC
from jobs.stats_tables import histograms
from pipeline import commit, layout, storage
from pipeline.faults import fault_point
from pipeline.runlock import check_held
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
    Arrow table; it is written as `OUT/stats/<stage>_<name>.parquet` with the rest of the stage.
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
    """Run `steps` in order over `df` in one Spark job and commit each stage; stats rows per stage."""
    spark = df.sparkSession
    tag = uuid.uuid4().hex[:8]  # this pass's parts never take the name of a listed part of an older one
    for step in steps:
        storage.rmtree(layout.work_dir(out, step.name))
    folders = {
        step.name: {
            "docs": str(layout.docs_dir(out, step.name)),
            "rejected": str(layout.rejected_dir(out, step.name)),
            "signals": str(layout.work_dir(out, step.name) / "signals"),
        }
        for step in steps
    }
    manifests = [
        json.loads(row["manifest"])
        for row in df.mapInArrow(_pass(steps, folders, tag), "manifest string").collect()
    ]
    for step in steps:
        fault_point(f"scratch:{step.name}")

    results = {}
    for step in steps:
        counts = _counts(step)
        files: dict[str, list[str]] = {kind: [] for kind in OUTPUTS}
        for manifest in manifests:
            mine = manifest[step.name]
            counts.merge(_counts(step).load_json(mine["counts"]))
            for kind in OUTPUTS:
                files[kind] += mine["files"].get(kind, [])
        for kind in ("docs", "rejected"):
            if not files[kind]:  # an empty output still gets one (empty) part, so readers know its schema
                files[kind].append(_write_empty(folders[step.name][kind], step.schema, tag))
        rows = counts.stats_rows(step.name, step.rules) + list((extra_stats or {}).get(step.name, []))
        tables = {
            layout.stats_path(out, step.name): stats_table(rows),
            layout.stage_table_path(out, step.name, "breakdown"): counts.breakdown_table(step.name),
        }
        hist = histograms(spark, files["signals"], step.name, counts.bounds)
        if hist is not None:
            tables[layout.stage_table_path(out, step.name, "histograms")] = hist
        built = {**step.tables, **(extra_tables or {}).get(step.name, {})}
        if built:
            full = read_files(spark, files["docs"] + files["rejected"])
            for name, build in built.items():
                tables[layout.stage_table_path(out, step.name, name)] = build(full)
        for target, table in tables.items():  # fixed names: one write each, just before the marker
            _write_table(table, target)
        commit_stage(
            out,
            step.name,
            [*files["docs"], *files["rejected"], *tables],
            [layout.docs_dir(out, step.name), layout.rejected_dir(out, step.name)],
        )
        storage.rmtree(layout.work_dir(out, step.name))
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


def _pass(
    steps: list[StageStep], folders: dict[str, dict[str, str]], tag: str
) -> Callable[[Batches], Batches]:
    """The function each task runs: the chain of stages over its partition, writing as it goes."""

    def run_partition(batches: Batches) -> Batches:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        name = part_name(ctx.partitionId(), ctx.taskAttemptId(), tag)
        sinks = [_Sink(step, folders[step.name], name) for step in steps]
        stream = batches
        for step, sink in zip(steps, sinks):
            stream = sink.write(step.transform(stream) if step.transform else stream)
        for _ in stream:  # pull every batch through the chain
            pass
        manifest = {step.name: sink.manifest() for step, sink in zip(steps, sinks)}
        yield pa.RecordBatch.from_pylist([{"manifest": json.dumps(manifest)}])

    return run_partition


class _Sink:
    """One stage's outputs in one task: Parquet files written as batches pass (kept and rejected rows
    straight into the stage's folders under this attempt's name; the projection into scratch), and
    their counts."""

    def __init__(self, step: StageStep, folders: dict[str, str], name: str):
        self.step, self.folders, self.name = step, folders, name
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
            target = self._path(kind)
            target.parent.mkdir(parents=True, exist_ok=True)
            fs, where = storage.fs_path(target)
            self.writers[kind] = pq.ParquetWriter(
                where, table.schema, filesystem=fs, compression=PARQUET_CODEC
            )
        self.writers[kind].write_table(table)
        self.buffers[kind], self.buffered_bytes[kind] = [], 0

    def _path(self, kind: str) -> storage.Location:
        return storage.path(self.folders[kind]) / self.name

    def manifest(self) -> dict:
        files = {kind: [str(self._path(kind))] for kind in self.writers}
        return {"files": files, "counts": self.counts.to_json()}


def _write_empty(folder: str, schema: pa.Schema, tag: str) -> str:
    """An empty part written by the driver (no task wrote one): its name says so."""
    target = storage.path(folder) / part_name(0, 0, f"{tag}-driver")
    _write_table(schema.empty_table(), target)
    return str(target)


def _write_table(table: pa.Table, target: storage.Where) -> None:
    """One Parquet file at `target` (local or object store), in one write."""
    storage.path(target).parent.mkdir(parents=True, exist_ok=True)
    fs, where = storage.fs_path(target)
    pq.write_table(table, where, filesystem=fs, compression=PARQUET_CODEC)


def commit_stage(out: str, stage: str, files: list[storage.Where], folders: list[storage.Where]) -> None:
    """Write the stage's marker last, in one write, listing `files` (everything the output is), then
    delete what lies in the stage's `folders` unlisted: superseded attempts and the older output, which
    stayed readable (its marker listed it) until this marker landed."""
    fault_point(f"publish:{stage}")
    check_held(out)  # on an object store: this run still holds OUT's lease, else it stops here
    marked = layout.stage_dir(out, stage)
    commit.write_marker(marked, commit.marker_payload(marked, out, commit.fingerprint_of(stage), files))
    for stale in commit.unlisted(folders, files):
        stale.unlink(missing_ok=True)


def publish(out: str, stage: str, pieces: list[tuple[storage.Where, storage.Where]]) -> None:
    """Commit a stage whose output has fixed file names (the shards folder and its `manifest.json`,
    stats tables): copy or upload each (source, target) piece, a file or a folder, local or in a store
    (a piece not produced is skipped), then write the marker listing every file copied.

    The LAST target is the folder that holds the marker. Its files have fixed names, so copying over
    them would mix old and new files under the old marker: the old marker is removed FIRST, and a run
    that dies while copying leaves the stage reading as unfinished (the next run redoes it). Files
    left in the target folders from the older output and not copied again are deleted after the
    marker lands. Sources are the caller's to clean up."""
    marked = storage.path(pieces[-1][1])
    (marked / layout.SUCCESS).unlink(missing_ok=True)
    files: list[storage.Location] = []
    for source, target in pieces:
        source, target = storage.path(source), storage.path(target)
        found = storage.files_under(source)
        if not found:
            continue
        storage.copy(source, target)
        files += [target / rel if rel else target for rel, _size, _mtime in found]
    commit_stage(out, stage, files, [marked])
