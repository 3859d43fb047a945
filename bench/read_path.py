"""What reading a stage output through pyarrow inside the tasks costs against Spark's own Parquet reader.

    .venv/bin/python -m bench.read_path [--docs 200000] [--master local[2]]

Where Hadoop has no connector for the store (`s3a://` from the pyspark wheel), stages read the listed
part files with pyarrow inside `mapInArrow` (`jobs.arrow_io.read_files(..., by_pyarrow=True)`); elsewhere
Spark's vectorized reader does. This measures the two on local disk, where both can run, over the same
files: a stage output of `--docs` synthetic documents in the document schema (bench/dedup_scale.py's
corpus, 80-320 words each, written as 20,000-row part files). Two consumers of the rows:

  rows into a Python stage   every column through `mapInArrow`, as the row-wise stages consume their input
  SQL aggregate              count(*) and sum(length(text)) in the JVM, as the global stages' groupBys do

Each side reads once after a warm-up pass over one file; wall time and the CPU time of the whole
process tree (driver, JVM, Python workers). Both sides must see the same rows (asserted).

Results: bench/results/read_path.json.
"""

from __future__ import annotations

import argparse
import shutil
import time

import psutil
import pyarrow as pa
import pyarrow.compute as pc

from bench.common.env import OUT
from bench.dedup_scale import write_corpus
from bench.results_table import write_result
from jobs.arrow_io import read_files
from jobs.session import get_spark
from pipeline.config import load_config

SIDES = {"Spark's reader": False, "pyarrow in the tasks": True}  # side -> by_pyarrow


def _tree_cpu() -> float:
    """CPU seconds of this process and every live descendant (the JVM and its Python workers)."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def _count_partition(batches):
    rows = chars = 0
    for batch in batches:
        rows += batch.num_rows
        chars += pc.sum(pc.utf8_length(batch.column("text"))).as_py() or 0
    yield pa.RecordBatch.from_pylist([{"rows": rows, "chars": chars}])


def into_python(df) -> tuple[int, int]:
    from pyspark.sql import functions as F

    row = df.mapInArrow(_count_partition, "rows long, chars long").agg(F.sum("rows"), F.sum("chars")).first()
    return int(row[0]), int(row[1])


def sql_aggregate(df) -> tuple[int, int]:
    from pyspark.sql import functions as F

    row = df.agg(F.count("*"), F.sum(F.length("text"))).first()
    return int(row[0]), int(row[1])


CONSUMERS = {"rows into a Python stage": into_python, "SQL aggregate": sql_aggregate}


def measure(spark, files: list[str], consume, by_pyarrow: bool) -> dict:
    cpu, start = _tree_cpu(), time.perf_counter()
    seen = consume(read_files(spark, files, by_pyarrow=by_pyarrow))
    return {"wall_s": time.perf_counter() - start, "cpu_s": _tree_cpu() - cpu, "seen": seen}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=200_000)
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    folder = OUT / "read_path" / f"docs_{args.docs}"
    if not folder.is_dir():
        shutil.rmtree(folder.parent, ignore_errors=True)
        write_corpus(folder, args.docs)
    files = [str(p) for p in sorted(folder.glob("part-*.parquet"))]
    megabytes = sum(p.stat().st_size for p in folder.glob("part-*.parquet")) / 2**20

    spark = get_spark(load_config(), master=args.master, app_name="bench-read-path")
    try:
        for by_pyarrow in SIDES.values():  # warm-up: JIT, Python workers, Arrow paths of both sides
            for consume in CONSUMERS.values():
                consume(read_files(spark, files[:1], by_pyarrow=by_pyarrow))
        figures = {}
        for consumer, consume in CONSUMERS.items():
            figures[consumer] = {side: measure(spark, files, consume, p) for side, p in SIDES.items()}
            print(
                consumer, {side: round(m["wall_s"], 1) for side, m in figures[consumer].items()}, flush=True
            )
    finally:
        spark.stop()

    rows = []
    for consumer, sides in figures.items():
        spark_side, arrow_side = sides["Spark's reader"], sides["pyarrow in the tasks"]
        assert spark_side["seen"] == arrow_side["seen"], f"{consumer}: the two readers saw different rows"
        assert spark_side["seen"][0] == args.docs
        rows.append(
            [
                consumer,
                round(spark_side["wall_s"], 1),
                round(arrow_side["wall_s"], 1),
                f"{arrow_side['wall_s'] / spark_side['wall_s']:.2f}x",
                round(spark_side["cpu_s"], 1),
                round(arrow_side["cpu_s"], 1),
                f"{arrow_side['cpu_s'] / spark_side['cpu_s']:.2f}x",
            ]
        )
    table = {
        "title": f"Reading a stage output: pyarrow in the tasks vs Spark's reader, local disk, {args.master}",
        "command": f"python -m bench.read_path --docs {args.docs} --master {args.master}",
        "columns": [
            "consumer",
            "Spark reader wall s",
            "pyarrow wall s",
            "wall ratio",
            "Spark reader CPU s",
            "pyarrow CPU s",
            "CPU ratio",
        ],
        "rows": rows,
        "notes": f"{args.docs:,} synthetic documents in {len(files)} zstd Parquet files ({megabytes:.0f} MB), "
        "one timed read per side after a warm-up; CPU of the driver, JVM and Python workers. Ratio > 1: the "
        "pyarrow path (used where Hadoop cannot open the store) costs more.",
    }
    print(write_result("read_path", [table], {"docs": args.docs, "files": len(files), "measured": figures}))


if __name__ == "__main__":
    main()
