"""The histogram table of a stage, binned in Spark from a text-free projection of its output.

`OUT/stats/<stage>_histograms.parquet`: every non-constant numeric signal column binned (20
equal-width bins between its min and max), per outcome (kept / dropped), so thresholds can be
drawn on them. The min and max come from the counts gathered while the stage output was written
(`pipeline.stats.StageCounts`), so binning reads only the small projection (`drop_reason` and the
signal columns), never the text. A projection up to `DRIVER_BINNING_MAX_BYTES` is binned on the
driver with pyarrow, file by file; a larger one by one Spark job. Both compute the same bins with the
same double arithmetic (tests/test_output.py compares them). The breakdown table needs no job at
all: it is counted in the same pass (`StageCounts.breakdown_table`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.arrow_io import read_files
from pipeline import storage

N_BINS = 20
# Up to this much Parquet (a few million documents' signals) the driver bins faster than Spark can
# schedule the job: a Spark aggregate costs ~3 s of CPU per stage even on a few hundred rows, most of
# a small run's stats time. Larger projections use Spark so the driver never reads a
# cluster-sized projection alone.
DRIVER_BINNING_MAX_BYTES = 256 << 20
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
    spark,
    projection_files: list[str],
    stage: str,
    bounds: dict[str, list[float]],
    driver_max_bytes: int = DRIVER_BINNING_MAX_BYTES,
) -> pa.Table | None:
    """One row per (signal, outcome, bin): lo, hi, docs. None when no signal varies."""
    varying = {c: (float(lo), float(hi)) for c, (lo, hi) in bounds.items() if lo != hi}
    if not varying or not projection_files:
        return None
    if sum(_size(f) for f in projection_files) <= driver_max_bytes:
        counts: Counter = Counter()
        for path in projection_files:
            counts.update(_bin_file(path, varying))
    else:
        counts = _bin_in_spark(spark, projection_files, varying)
    rows = [
        {"stage": stage, "signal": c, "outcome": outcome, "bin": b, **_edges(*varying[c], b), "docs": n}
        for (c, outcome, b), n in counts.items()
    ]
    table = pa.Table.from_pylist(rows, schema=HISTOGRAM_SCHEMA)
    return table.sort_by([("signal", "ascending"), ("outcome", "ascending"), ("bin", "ascending")])


def _size(path: str) -> int:
    fs, where = storage.fs_path(path)
    return fs.get_file_info(where).size


def _edges(lo: float, hi: float, b: int) -> dict[str, float]:
    width = (hi - lo) / N_BINS
    return {"lo": lo + b * width, "hi": lo + (b + 1) * width}


def _bin_file(path: str, varying: dict[str, tuple[float, float]]) -> Counter:
    """(signal, outcome, bin) -> documents for one projection file; nulls and NaN are not binned."""
    fs, where = storage.fs_path(path)
    table = pq.read_table(where, columns=["drop_reason", *varying], filesystem=fs)
    kept = pc.is_null(table.column("drop_reason")).to_numpy(zero_copy_only=False)
    counts: Counter = Counter()
    for c, (lo, hi) in varying.items():
        value = pc.cast(table.column(c), pa.float64()).to_numpy(zero_copy_only=False)  # nulls become NaN
        present = ~np.isnan(value)
        width = (hi - lo) / N_BINS
        bins = np.minimum(np.floor((value[present] - lo) / width), N_BINS - 1).astype(np.int64)
        pairs, docs = np.unique(np.stack([kept[present], bins]), axis=1, return_counts=True)
        for (is_kept, b), n in zip(pairs.T, docs):
            counts[(c, "kept" if is_kept else "dropped", int(b))] += int(n)
    return counts


def _bin_in_spark(spark, projection_files: list[str], varying: dict[str, tuple[float, float]]) -> Counter:
    """As `_bin_file`, over all the files, in one Spark job."""
    from pyspark.sql import functions as F

    full = read_files(spark, projection_files)
    entries = []
    for c, (lo, hi) in sorted(varying.items()):
        width = (hi - lo) / N_BINS
        value = F.col(c).cast("double")
        bin_idx = F.least(F.floor((value - F.lit(lo)) / F.lit(width)), F.lit(N_BINS - 1))
        entries.append(
            F.when(
                value.isNotNull() & ~F.isnan(value),
                F.struct(F.lit(c).alias("signal"), bin_idx.cast("int").alias("bin")),
            )
        )
    outcome = F.when(F.col("drop_reason").isNull(), "kept").otherwise("dropped")
    exploded = full.select(outcome.alias("outcome"), F.explode(F.array(*entries)).alias("h")).where(
        F.col("h").isNotNull()
    )
    binned = exploded.groupBy("h.signal", "outcome", "h.bin").agg(F.count("*").alias("docs")).collect()
    return Counter({(r["signal"], r["outcome"], r["bin"]): r["docs"] for r in binned})
