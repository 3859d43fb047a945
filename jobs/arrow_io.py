"""Parquet files in and out of Spark through pyarrow, for any location `pipeline.storage` resolves.

Spark reads and writes files through Hadoop file systems, and the pyspark wheel ships none for object
stores (`s3a://` needs the `hadoop-aws` jars that clusters such as EMR and Dataproc add). So every
DataFrame a stage writes goes through pyarrow inside the tasks (`write_partitions`), and files are read
back with Spark's own reader where Hadoop can open them (local disk; `s3a://` where the jars are on the
classpath), else with pyarrow inside the tasks (`read_files`). Both paths give the same rows.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Sequence

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import storage

log = logging.getLogger(__name__)

READ_BATCH_ROWS = 4096  # rows per Arrow batch handed to Spark when pyarrow reads a part
WRITTEN = "file string, rows long"  # what each writing task returns per file it wrote


def part_name(partition: int, attempt: int, tag: str = "") -> str:
    """A part file's name: its partition (readers sort on it), the task attempt that wrote it (so a
    retried or speculative attempt never overwrites another's file) and an optional run tag."""
    return f"part-{partition:05d}-{tag + '-' if tag else ''}a{attempt}.parquet"


def write_partitions(df, folder: storage.Where, *, tag: str = "", codec: str = "zstd") -> list[str]:
    """Write each partition of `df` as one Parquet file under `folder`; return the files the successful
    task attempts wrote, in partition order (a failed attempt's file is never returned). An empty
    partition writes no file."""
    from jobs.frames import arrow_schema

    schema = arrow_schema(df)
    written = df.mapInArrow(
        functools.partial(_write_partition, folder=str(folder), schema=schema, tag=tag, codec=codec), WRITTEN
    ).collect()
    return [row["file"] for row in sorted(written, key=lambda row: row["file"]) if row["rows"]]


def _write_partition(
    batches: Iterator[pa.RecordBatch], folder: str, schema: pa.Schema, tag: str, codec: str
) -> Iterator[pa.RecordBatch]:
    from pyspark import TaskContext

    from pipeline.schema import conform

    ctx = TaskContext.get()
    target = storage.path(folder) / part_name(ctx.partitionId(), ctx.taskAttemptId(), tag)
    target.parent.mkdir(parents=True, exist_ok=True)
    fs, where = storage.fs_path(target)
    rows, writer = 0, None
    try:
        for batch in batches:
            if not batch.num_rows:
                continue
            if writer is None:
                writer = pq.ParquetWriter(where, schema, filesystem=fs, compression=codec)
            writer.write_batch(conform(batch, schema))
            rows += batch.num_rows
    finally:
        if writer is not None:
            writer.close()
    yield pa.RecordBatch.from_pylist([{"file": str(target), "rows": rows}], schema=_written_schema())


@functools.cache
def _written_schema() -> pa.Schema:
    return pa.schema([("file", pa.string()), ("rows", pa.int64())])


def hadoop_can_open(spark, location: storage.Where) -> bool:
    """Whether Spark's own reader can open `location`: local paths always; object stores when the
    cluster has the Hadoop connector for them (`s3a://` needs `hadoop-aws` on the classpath)."""
    if not storage.is_remote(location):
        return True
    return _s3a_loaded(spark)


def _s3a_loaded(spark) -> bool:
    try:
        spark._jvm.java.lang.Class.forName("org.apache.hadoop.fs.s3a.S3AFileSystem")
        return True
    except Exception:  # py4j wraps the ClassNotFoundException
        return False


def hadoop_uri(location: storage.Where) -> str:
    """The URI Spark's Hadoop layer opens: `s3://` is spelled `s3a://` there."""
    text = str(location)
    return "s3a://" + text[len("s3://") :] if text.startswith("s3://") else text


def read_files(spark, files: Sequence[storage.Where], schema: pa.Schema | None = None, *, by_pyarrow=False):
    """A DataFrame of the rows of `files` (Parquet, one schema). Spark's reader where Hadoop can open
    them (unless `by_pyarrow`), else pyarrow inside the tasks, one task per file. `schema` is needed
    when `files` is empty."""
    from jobs.frames import HADOOP_GLOB_CHARS, dataframe_from_arrow, spark_schema

    files = [str(f) for f in files]
    if schema is None:
        if not files:
            raise ValueError("read_files: no files and no schema")
        fs, where = storage.fs_path(files[0])
        schema = pq.read_schema(where, filesystem=fs)
    if not files:
        return dataframe_from_arrow(spark, schema.empty_table())
    if not by_pyarrow and all(hadoop_can_open(spark, f) for f in files):
        # Spark (Hadoop) expands glob characters in read paths: escape them, names are literal here.
        return spark.read.parquet(*(HADOOP_GLOB_CHARS.sub(r"\\\1", hadoop_uri(f)) for f in files))
    paths = spark.sparkContext.parallelize(files, len(files)).map(lambda f: (f,)).toDF("path string")
    return paths.mapInArrow(functools.partial(_read_parts, schema=schema), spark_schema(schema))


def _read_parts(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    from pipeline.schema import conform

    for batch in batches:
        for name in batch.column("path").to_pylist():
            fs, where = storage.fs_path(name)
            for part in pq.ParquetFile(fs.open_input_file(where)).iter_batches(READ_BATCH_ROWS):
                yield conform(part, schema)
