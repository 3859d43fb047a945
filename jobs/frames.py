"""Conversions between Arrow schemas/tables and Spark DataFrames (timestamps stay UTC-aware)."""

from __future__ import annotations

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
