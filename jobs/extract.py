"""The extract stage on Spark: WARC files in, one row per response record out.

Each WARC file is one Spark task (files are the natural unit: gzip members cannot be split
blindly). The per-file work is the pure `pipeline.extract.stage.process_warc_file`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from jobs.output import StageStep, write_stages

CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")


def crawl_label(path: str, default: str) -> str:
    match = CRAWL_ID.search(path)
    return match.group(0) if match else default


def input_paths(cfg: dict[str, Any], inp: str | list[str] | None) -> list[str]:
    """Local files/dirs/globs, http(s) URLs, or a Common Crawl crawl by id:
    `crawl:CC-MAIN-2024-10[/SEGMENTS[/WARCS_PER_SEGMENT]]` (a segment holds several hundred 1 GB WARCs)."""
    from pipeline.io.commoncrawl import crawl_warc_urls
    from pipeline.io.warc import list_inputs

    specs = inp if isinstance(inp, list) else [inp] if inp else []
    paths: list[str] = []
    for spec in specs:
        if spec.startswith("crawl:"):
            crawl_id, *limits = spec[len("crawl:") :].split("/")
            segments = int(limits[0]) if limits and limits[0] else None
            per_segment = int(limits[1]) if len(limits) > 1 and limits[1] else None
            base = cfg["extract"]["commoncrawl_base_url"]
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
    default_crawl = cfg["run"]["name"]
    batch_rows = cfg["spark"]["arrow_batch_rows"]

    def extract_partition(batches):
        run_cfg = json.loads(cfg_json)
        for batch in batches:
            for path in batch.column("path").to_pylist():
                yield from process_warc_file(path, run_cfg, crawl_label(path, default_crawl), batch_rows)

    return StageStep("extract", OUTPUT_SCHEMA, tuple(EXTRACT_RULES), extract_partition, size_col="html_bytes")


def files(spark, paths: list[str]):
    """One partition per file, in sorted order, so part files map to inputs deterministically."""
    return spark.sparkContext.parallelize([(p,) for p in paths], len(paths)).toDF("path string")


def run(spark, cfg: dict[str, Any], inp, out: str) -> list[dict]:
    paths = input_paths(cfg, inp)  # idempotent: already-resolved paths and URLs come back as they are
    extra = {"extract": {"passes": passes}}
    return write_stages(files(spark, paths), [step(cfg)], out, extra_tables=extra)["extract"]


def passes(full):
    """OUT/stats/extract_passes.parquet: documents per (extract_passes_run, extract_pass, deep_nesting, kept) among
    the pages that went through the extraction cascade (docs/stats.md)."""
    import pyarrow as pa
    from pyspark.sql import functions as F

    keys = ["extract_passes_run", "extract_pass", "deep_nesting"]
    counts = (
        full.where(F.col("extract_pass").isNotNull())
        .groupBy(*keys, F.col("drop_reason").isNull().alias("kept"))
        .agg(F.count("*").cast("long").alias("docs"))
        .orderBy(*keys, "kept")
    )
    schema = pa.schema(
        [
            ("extract_passes_run", pa.int8()),
            ("extract_pass", pa.string()),
            ("deep_nesting", pa.bool_()),
            ("kept", pa.bool_()),
            ("docs", pa.int64()),
        ]
    )
    return pa.Table.from_pylist([r.asDict() for r in counts.collect()], schema=schema)
