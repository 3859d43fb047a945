"""The extract stage on Spark: WARC files in, one row per response record out.

A WARC file is never split (gzip members cannot be split blindly): a task reads whole files, one
1 GB Common Crawl WARC or a run of consecutive small ones (see `files`). The per-file work is the
pure `pipeline.extract.stage.process_warc_file`.
"""

from __future__ import annotations

import json
import math
import os
import re
from typing import Any

from jobs.output import StageStep, write_stages
from pipeline import storage
from pipeline.settings import RunSettings, SparkSettings

CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def crawl_label(path: str, default: str) -> str:
    match = CRAWL_ID.search(path)
    return match.group(0) if match else default


def input_paths(cfg: dict[str, Any], inp: str | list[str] | None) -> list[str]:
    """Files/dirs/globs (local or on an object store: `s3://bucket/crawl/*.warc.gz`), http(s) URLs, or a
    Common Crawl crawl by id: `crawl:CC-MAIN-2024-10[/SEGMENTS[/WARCS_PER_SEGMENT]]` (a segment holds
    several hundred 1 GB WARCs), read from `extract.commoncrawl_source` (https or s3)."""
    from pipeline.io.commoncrawl import crawl_warc_urls, source_base
    from pipeline.io.warc import list_inputs
    from pipeline.settings import ExtractSettings

    settings = ExtractSettings.from_config(cfg)
    specs = inp if isinstance(inp, list) else [inp] if inp else []
    paths: list[str] = []
    for spec in specs:
        if spec.startswith("crawl:"):
            crawl_id, *limits = spec[len("crawl:") :].split("/")
            segments = int(limits[0]) if limits and limits[0] else None
            per_segment = int(limits[1]) if len(limits) > 1 and limits[1] else None
            base = source_base(
                settings.commoncrawl_source, settings.commoncrawl_base_url, settings.commoncrawl_s3_uri
            )
            paths += crawl_warc_urls(crawl_id, segments, base_url=base, files_per_segment=per_segment)
        else:
            try:
                paths += list_inputs(spec)
            except FileNotFoundError:
                raise SystemExit(f"extract: no WARC files found in {spec}") from None
    if not paths:
        raise SystemExit(f"extract: no WARC files found in {specs}")
    return paths


def step(cfg: dict[str, Any]) -> StageStep:
    """The extract stage as the first step of a pass over a table of WARC paths (see `files`)."""
    from pipeline.extract.stage import EXTRACT_RULES, OUTPUT_SCHEMA, process_warc_file

    cfg_json = json.dumps(cfg, sort_keys=True)
    default_crawl = RunSettings.from_config(cfg).name
    batch_rows = SparkSettings.from_config(cfg).arrow_batch_rows

    def extract_partition(batches):
        run_cfg = json.loads(cfg_json)
        for batch in batches:
            for path in batch.column("path").to_pylist():
                yield from process_warc_file(path, run_cfg, crawl_label(path, default_crawl), batch_rows)

    return StageStep(
        "extract",
        OUTPUT_SCHEMA,
        tuple(EXTRACT_RULES),
        extract_partition,
        size_col="html_bytes",
        tables={"passes": passes},
    )


def files(spark, paths: list[str]):
    """The WARC paths as a table, in input order. When every file is small (under a quarter of Spark's
    split size for file sources, `spark.sql.files.maxPartitionBytes`, 128 MB), runs of consecutive files
    share a partition: as many partitions as splits of their total size, at least one per core. A task
    costs ~40-50 ms of CPU in the Python worker alone (more in the JVM), which decided runs over many small
    excerpts (240 tasks for 24 copies of warc_samples); objects on a store are sized from one listing
    per folder. Otherwise (a 1 GB Common Crawl WARC,
    a URL of unknown size) every file is a task of its own. The same input and parallelism always give
    the same partitions, so part files map to inputs deterministically."""
    from pipeline.io.inputs import is_object, object_stats

    split = spark._jsparkSession.sessionState().conf().filesMaxPartitionBytes()
    objects = object_stats([p for p in paths if is_object(p)])
    sizes = [_size(p, objects, split) for p in paths]
    count = len(paths)
    if max(sizes, default=0) * 4 <= split:  # parallelize cuts the list into runs of equal length
        count = min(count, max(spark.sparkContext.defaultParallelism, math.ceil(sum(sizes) / split)))
    return spark.sparkContext.parallelize([(p,) for p in paths], count).toDF("path string")


def _size(path: str, objects: dict[str, list], split: int) -> int:
    """A local file's or an object's size; `split` (a task of its own) when unknown (an https URL)."""
    from pipeline.io.inputs import is_object

    if is_object(path):
        found = objects.get(str(storage.path(path)))
        return found[0][1] if found else split
    return os.path.getsize(path) if os.path.isfile(path) else split


def run(spark, cfg: dict[str, Any], inp, out: str) -> list[dict]:
    paths = input_paths(cfg, inp)  # idempotent: already-resolved paths and URLs come back as they are
    return write_stages(files(spark, paths), [step(cfg)], out)["extract"]


def passes(full):
    """OUT/stats/extract_passes.parquet: documents per (extract_passes_run, extract_pass, deep_nesting, kept) among
    the pages that went through the extraction cascade (docs/stats.md). Counted on the driver from five small
    columns of the stage's Parquet files (no text is read and no Spark job runs: the stage output stays one pass)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.dataset as ds
    import pyarrow.fs as pafs

    from jobs.frames import arrow_schema

    keys = ["extract_passes_run", "extract_pass", "deep_nesting"]
    located = [pafs.FileSystem.from_uri(uri) for uri in full.inputFiles()]  # Spark lists URIs (file:, hdfs:)
    if located:
        filesystem = located[0][0]
        columns = [*keys, "drop_reason"]
        dataset = ds.dataset(
            [path for _, path in located], format="parquet", filesystem=filesystem, schema=arrow_schema(full)
        )
        table = dataset.to_table(columns=columns)
        table = table.filter(pc.is_valid(table["extract_pass"]))
        table = table.append_column("kept", pc.is_null(table["drop_reason"])).drop_columns(["drop_reason"])
        counts = (
            table.group_by([*keys, "kept"])
            .aggregate([([], "count_all")])
            .rename_columns([*keys, "kept", "docs"])
        )
    else:  # parts read by pyarrow inside the tasks (an object store Hadoop cannot open): one small job
        counts = _passes_in_spark(full, keys)
    schema = pa.schema(
        [
            ("extract_passes_run", pa.int8()),
            ("extract_pass", pa.string()),
            ("deep_nesting", pa.bool_()),
            ("kept", pa.bool_()),
            ("docs", pa.int64()),
        ]
    )
    return counts.select(schema.names).cast(schema).sort_by([(k, "ascending") for k in [*keys, "kept"]])


def _passes_in_spark(full, keys: list[str]):
    import pyarrow as pa
    from pyspark.sql import functions as F

    grouped = (
        full.where(F.col("extract_pass").isNotNull())
        .groupBy(*keys, F.col("drop_reason").isNull().alias("kept"))
        .agg(F.count(F.lit(1)).alias("docs"))
    )
    rows = [r.asDict() for r in grouped.collect()]
    return pa.Table.from_pylist(rows) if rows else pa.table({c: [] for c in [*keys, "kept", "docs"]})
