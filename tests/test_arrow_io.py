"""Spark <-> Parquet through pyarrow: the same rows on local disk and on the loopback S3 server."""

from __future__ import annotations

import pyarrow as pa
import pytest

from jobs import arrow_io
from pipeline import storage

pytestmark = pytest.mark.spark


def _frame(spark, n=200, partitions=4):
    from pyspark.sql import functions as F

    return (
        spark.range(n)
        .repartition(partitions, "id")
        .select("id", F.concat(F.lit("doc "), F.col("id").cast("string")).alias("text"))
    )


def _rows(df):
    return sorted((r["id"], r["text"]) for r in df.collect())


@pytest.mark.parametrize("where", ["local", "s3"])
def test_written_partitions_read_back_the_same_rows(spark, tmp_path, s3_bucket, where):
    folder = tmp_path / "out" if where == "local" else f"{s3_bucket}/run/out"
    df = _frame(spark)
    files = arrow_io.write_partitions(df, folder, tag="t1")
    assert 1 <= len(files) <= 4 and all("part-" in f and "-t1-a" in f for f in files)
    assert [storage.path(f).name for f in files] == sorted(storage.path(f).name for f in files)
    assert _rows(arrow_io.read_files(spark, files)) == _rows(df)
    assert _rows(arrow_io.read_files(spark, files, by_pyarrow=True)) == _rows(df)


def test_object_stores_are_read_by_pyarrow_without_the_hadoop_connector(spark, s3_bucket):
    # The pyspark wheel has no hadoop-aws: Spark itself cannot open s3a:// here, the pyarrow path does.
    assert not arrow_io.hadoop_can_open(spark, f"{s3_bucket}/x")
    assert arrow_io.hadoop_can_open(spark, "/tmp/x")
    assert arrow_io.hadoop_uri("s3://b/k") == "s3a://b/k"


def test_no_files_gives_an_empty_frame_with_the_schema(spark):
    schema = pa.schema([("id", pa.int64()), ("text", pa.string())])
    df = arrow_io.read_files(spark, [], schema)
    assert df.count() == 0 and df.columns == ["id", "text"]
