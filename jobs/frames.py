"""Conversions between Arrow schemas/tables and Spark DataFrames (timestamps stay UTC-aware)."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa


def spark_schema(schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema, prefer_timestamp_ntz=False)


def arrow_schema(df) -> pa.Schema:
    from pyspark.sql.pandas.types import to_arrow_schema

    return to_arrow_schema(df.schema, timezone="UTC")


def dataframe_from_arrow(spark, table: pa.Table):
    """A DataFrame with exactly the Arrow table's schema (all-null columns keep their declared type)."""
    return spark.createDataFrame(table, schema=spark_schema(table.schema))


def _normalized(urls):
    from pipeline.urls import normalize_url

    return urls.map(normalize_url, na_action="ignore")


def with_url_norm(df):
    """`df` with the canonical `url_norm` column; derived from `url` when the table predates it
    (document tables written before url_norm existed, or built by hand)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    if "url_norm" in df.columns:
        return df
    return df.withColumn("url_norm", F.pandas_udf(_normalized, StringType())("url"))


HADOOP_GLOB_CHARS = re.compile(r"([\\*?\[\]{}])")


def read_parquet(spark, *paths: str | Path):
    """Read Parquet folders or files by their literal names: Spark (Hadoop) expands glob characters in
    read paths, so a run folder named `runs/[ab]` would otherwise read its sibling runs `runs/a` and `runs/b`."""
    return spark.read.parquet(*(HADOOP_GLOB_CHARS.sub(r"\\\1", str(path)) for path in paths))
