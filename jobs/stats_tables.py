"""The data-team stats tables of a stage, aggregated in Spark from its full output (docs/stats.md).

- `OUT/stats/<stage>_breakdown.parquet`: documents, characters and words per
  (drop_reason, domain, lang, host_suffix); `drop_reason` null = kept.
- `OUT/stats/<stage>_histograms.parquet`: every non-constant numeric signal column binned (20
  equal-width bins between its min and max), per outcome (kept / dropped), so thresholds can be drawn on them.

Both are small (bounded by the number of rules × languages × suffixes, and signals × bins) and are
computed in two passes over the stage output whatever its size.
"""

from __future__ import annotations

from pathlib import Path

from pipeline.schema import DOC_COLUMNS

N_BINS = 20
# Numeric columns that are provenance, not signals.
NOT_SIGNALS = (set(DOC_COLUMNS) - {"lang_score", "quality_score"}) | {"warc_offset", "http_status"}


def breakdown(full, stage: str):
    from pyspark.sql import functions as F

    text = F.coalesce(F.col("text"), F.lit(""))
    host_suffix = F.regexp_extract(F.coalesce(F.col("host"), F.lit("")), r"\.([^.]+)$", 1)
    return (
        full.select(
            F.lit(stage).alias("stage"),
            "drop_reason",
            F.coalesce(F.col("domain"), F.lit("unassigned")).alias("domain"),
            F.coalesce(F.col("lang"), F.lit("unknown")).alias("lang"),
            F.when(host_suffix == "", "unknown").otherwise(host_suffix).alias("host_suffix"),
            F.length(text).alias("chars"),
            F.when(F.trim(text) == "", 0).otherwise(F.size(F.split(F.trim(text), r"\s+"))).alias("words"),
        )
        .groupBy("stage", "drop_reason", "domain", "lang", "host_suffix")
        .agg(
            F.count("*").cast("long").alias("docs"),
            F.sum("chars").alias("chars"),
            F.sum("words").alias("words"),
        )
    )


def signal_columns(full) -> list[str]:
    numeric = ("int", "bigint", "smallint", "tinyint", "float", "double")
    return [name for name, dtype in full.dtypes if dtype in numeric and name not in NOT_SIGNALS]


def histograms(full, stage: str):
    """One row per (signal, outcome, bin): lo, hi, docs. None when the stage has no numeric signal."""
    from pyspark.sql import functions as F

    signals = signal_columns(full)
    if not signals:
        return None
    bounds = full.agg(
        *[F.min(c).alias(f"min_{c}") for c in signals], *[F.max(c).alias(f"max_{c}") for c in signals]
    )
    b = bounds.collect()[0]
    entries = []
    for c in signals:
        lo, hi = b[f"min_{c}"], b[f"max_{c}"]
        if lo is None or lo == hi:  # a constant signal has nothing to show
            continue
        lo, hi = float(lo), float(hi)
        width = (hi - lo) / N_BINS
        bin_idx = F.least(F.floor((F.col(c).cast("double") - F.lit(lo)) / F.lit(width)), F.lit(N_BINS - 1))
        entries.append(
            F.when(
                F.col(c).isNotNull(),
                F.struct(
                    F.lit(c).alias("signal"),
                    bin_idx.cast("int").alias("bin"),
                    F.lit(lo).alias("min"),
                    F.lit(width).alias("width"),
                ),
            )
        )
    if not entries:
        return None
    outcome = F.when(F.col("drop_reason").isNull(), "kept").otherwise("dropped")
    exploded = full.select(outcome.alias("outcome"), F.explode(F.array(*entries)).alias("h")).where(
        F.col("h").isNotNull()
    )
    return (
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


def write_tables(full, stage: str, work: Path) -> None:
    """Write both tables as single Parquet files into the stage's scratch folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def to_arrow(df) -> pa.Table:
        return pa.Table.from_pylist([r.asDict() for r in df.collect()])

    pq.write_table(to_arrow(breakdown(full, stage)), work / "breakdown.parquet")
    hist = histograms(full, stage)
    if hist is not None:
        pq.write_table(to_arrow(hist.orderBy("signal", "outcome", "bin")), work / "histograms.parquet")
