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
    """The rows of Parquet folders or files, local or in an object store: exactly the parts a stage
    folder's `_SUCCESS` lists (an orphaned or duplicated task attempt is never read), else every
    Parquet file in the folder (`pipeline.commit.listed_parts`); read through `jobs.arrow_io.read_files`."""
    from jobs.arrow_io import read_files
    from pipeline.commit import listed_parts

    files = [part for path in paths for part in listed_parts(path)]
    if not files:
        raise FileNotFoundError(f"no Parquet files to read in {', '.join(map(str, paths))}")
    return read_files(spark, files)
