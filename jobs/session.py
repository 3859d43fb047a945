"""Spark session factory: embedded `local[*]` by default, any cluster via `--master`, and whatever
`spark-submit` configured when launched that way.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

log = logging.getLogger(__name__)


def _prepare_env() -> None:
    # Executors must run the same interpreter (and so the same installed package) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


def get_spark(cfg: dict[str, Any] | None = None, master: str | None = None, app_name: str = "webdata"):
    """A SparkSession configured for the pipeline.

    Precedence for the master URL: the `master` argument (`--master` on the CLI), then a master that
    `spark-submit` already set, then `spark.master` of the run config.
    """
    _prepare_env()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    spark_cfg = (cfg or {}).get("spark", {})
    conf = SparkConf()  # under spark-submit this already holds --master and --conf values
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif not conf.contains("spark.master"):
        builder = builder.master(spark_cfg.get("master", "local[*]"))
    settings = {
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.shuffle.partitions": str(spark_cfg.get("shuffle_partitions", 8)),
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(spark_cfg.get("arrow_batch_rows", 256)),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # We write our own _SUCCESS marker once kept, rejected and stats are all in place.
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.sql.parquet.compression.codec": "zstd",
        "spark.ui.showConsoleProgress": "true",
        "spark.ui.enabled": "false",
        "spark.driver.host": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "spark.python.worker.reuse": "true",
    }
    if not conf.contains("spark.driver.memory"):
        settings["spark.driver.memory"] = spark_cfg.get("driver_memory", "2g")
    for key, value in settings.items():
        if not conf.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
