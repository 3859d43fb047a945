"""The histogram table of a stage, binned in Spark from a text-free projection of its output.

`OUT/stats/<stage>_histograms.parquet`: every non-constant numeric signal column binned (20
equal-width bins between its min and max), per outcome (kept / dropped), so thresholds can be
drawn on them. The min and max come from the counts gathered while the stage output was written
(`pipeline.stats.StageCounts`), so binning is one job over the small projection (`drop_reason` and
the signal columns), never over the text. The breakdown table needs no job at all: it is counted
in the same pass (`StageCounts.breakdown_table`).
"""

from __future__ import annotations

import pyarrow as pa

from jobs.frames import read_parquet

N_BINS = 20
HISTOGRAM_SCHEMA = pa.schema(
    [
        ("stage", pa.string()),
        ("signal", pa.string()),
        ("outcome", pa.string()),
        ("bin", pa.int32()),
        ("lo", pa.float64()),
        ("hi", pa.float64()),
        ("docs", pa.int64()),
    ]
)


def histograms(
    spark, projection_files: list[str], stage: str, bounds: dict[str, list[float]]
) -> pa.Table | None:
    """One row per (signal, outcome, bin): lo, hi, docs. None when no signal varies."""
    from pyspark.sql import functions as F

    varying = {c: (float(lo), float(hi)) for c, (lo, hi) in bounds.items() if lo != hi}
    if not varying or not projection_files:
        return None
    full = read_parquet(spark, *projection_files)
    entries = []
    for c, (lo, hi) in sorted(varying.items()):
        width = (hi - lo) / N_BINS
        value = F.col(c).cast("double")
        bin_idx = F.least(F.floor((value - F.lit(lo)) / F.lit(width)), F.lit(N_BINS - 1))
        entries.append(
            F.when(
                value.isNotNull() & ~F.isnan(value),
                F.struct(
                    F.lit(c).alias("signal"),
                    bin_idx.cast("int").alias("bin"),
                    F.lit(lo).alias("min"),
                    F.lit(width).alias("width"),
                ),
            )
        )
    outcome = F.when(F.col("drop_reason").isNull(), "kept").otherwise("dropped")
    exploded = full.select(outcome.alias("outcome"), F.explode(F.array(*entries)).alias("h")).where(
        F.col("h").isNotNull()
    )
    binned = (
        exploded.groupBy("h.signal", "h.bin", "h.min", "h.width", "outcome")
        .agg(F.count("*").cast("long").alias("docs"))
        .select(
            F.lit(stage).alias("stage"),
            "signal",
            "outcome",
            "bin",
            (F.col("min") + F.col("bin") * F.col("width")).alias("lo"),
            (F.col("min") + (F.col("bin") + 1) * F.col("width")).alias("hi"),
            "docs",
        )
    )
    table = pa.Table.from_pylist([r.asDict() for r in binned.collect()], schema=HISTOGRAM_SCHEMA)
    return table.sort_by([("signal", "ascending"), ("outcome", "ascending"), ("bin", "ascending")])
