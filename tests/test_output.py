"""The stage output writer: kept/rejected split, stats per rule, atomic publish with _SUCCESS last."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from jobs.frames import dataframe_from_arrow
from jobs.output import write_stage
from jobs.rowwise import run_rowwise
from pipeline import layout
from pipeline.fixtures.stages import MinWordsStage
from pipeline.schema import DOC_SCHEMA


def _docs(spark, texts):
    rows = [{"doc_id": f"d{i}", "text": t, "drop_reason": None} for i, t in enumerate(texts)]
    table = pa.Table.from_pylist(rows, schema=DOC_SCHEMA)
    return dataframe_from_arrow(spark, table)


def test_rowwise_stage_split_and_stats(spark, tmp_path):
    texts = ["short", "a b c d e f", "", "one two three four", "x " * 50]
    df = run_rowwise(_docs(spark, texts), MinWordsStage, {"min_words": 3})
    out = str(tmp_path / "run")
    rows = write_stage(df, out, "length", rules=["min_words", "never_fires"])

    kept = pq.read_table(layout.docs_dir(out, "length")).to_pylist()
    rejected = pq.read_table(layout.rejected_dir(out, "length")).to_pylist()
    assert sorted(r["doc_id"] for r in kept) == ["d1", "d3", "d4"]
    assert sorted(r["doc_id"] for r in rejected) == ["d0", "d2"]
    assert all(r["drop_reason"] == "length.min_words" for r in rejected)
    assert {r["doc_id"]: r["length_words"] for r in kept + rejected} == {
        "d0": 1,
        "d1": 6,
        "d2": 0,
        "d3": 4,
        "d4": 50,
    }

    stats = {r["rule"]: r for r in pq.read_table(layout.stats_path(out, "length")).to_pylist()}
    assert stats == {r["rule"]: r for r in rows}
    assert stats["_total"]["docs_in"] == 5 and stats["_total"]["docs_dropped"] == 2
    assert stats["min_words"]["docs_dropped"] == 2 and stats["min_words"]["bytes_dropped"] == len("short")
    assert stats["never_fires"]["docs_in"] == 3 and stats["never_fires"]["docs_dropped"] == 0
    assert layout.stage_done(out, "length")
    assert not layout.work_dir(out, "length").exists()


def test_incomplete_attempt_is_not_done(spark, tmp_path):
    out = str(tmp_path / "run")
    layout.docs_dir(out, "length").mkdir(parents=True)  # a killed attempt left a folder, no marker
    assert not layout.stage_done(out, "length")


def test_breakdown_and_histograms(spark, tmp_path):
    texts = ["short", "a b c d e f", "one two three four"]
    df = run_rowwise(_docs(spark, texts), MinWordsStage, {"min_words": 3})
    out = str(tmp_path / "run")
    write_stage(df, out, "length", rules=["min_words"])
    stats = layout.stats_path(out, "length").parent

    breakdown = pq.read_table(stats / "length_breakdown.parquet").to_pylist()
    by_reason = {r["drop_reason"]: r for r in breakdown}
    assert by_reason[None]["docs"] == 2 and by_reason[None]["words"] == 10
    assert by_reason["length.min_words"]["chars"] == len("short")
    assert {r["lang"] for r in breakdown} == {"unknown"}

    hist = pq.read_table(stats / "length_histograms.parquet").to_pylist()
    assert {r["signal"] for r in hist} == {"length_words"}
    assert sum(r["docs"] for r in hist) == 3
    dropped = [r for r in hist if r["outcome"] == "dropped"]
    assert len(dropped) == 1 and dropped[0]["lo"] == 1.0  # the one-word document sits in the first bin
    assert max(r["hi"] for r in hist) == 6.0


def test_driver_and_spark_binning_agree(spark, tmp_path):
    """Small projections are binned on the driver, large ones in Spark: same table either way."""
    from jobs.stats_tables import histograms

    rng = np.random.default_rng(7)
    files, bounds = [], {}
    for part in range(3):
        n = 400
        words = rng.integers(0, 5000, n)
        ratio = rng.random(n)
        ratio[rng.random(n) < 0.05] = np.nan  # NaN and null are not binned on either path
        table = pa.table(
            {
                "drop_reason": pa.array([None if k else "x.rule" for k in rng.random(n) < 0.7], pa.string()),
                "words": pa.array(words, pa.int64()),
                "ratio": pa.array(ratio, pa.float64(), mask=rng.random(n) < 0.05),
            }
        )
        files.append(str(tmp_path / f"part-{part}.parquet"))
        pq.write_table(table, files[-1])
        for c in ("words", "ratio"):
            lo, hi = pc.min_max(table.column(c)).values()
            seen = bounds.get(c, [lo.as_py(), hi.as_py()])
            bounds[c] = [min(seen[0], lo.as_py()), max(seen[1], hi.as_py())]
    on_driver = histograms(spark, files, "s", bounds)
    in_spark = histograms(spark, files, "s", bounds, driver_max_bytes=0)
    assert on_driver.to_pylist() == in_spark.to_pylist()
    assert sum(on_driver.column("docs").to_pylist()) > 2000
