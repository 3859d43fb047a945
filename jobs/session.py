"""Spark session factory: embedded `local[*]` by default, any cluster via `--master`, and whatever
`spark-submit` configured when launched that way.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from pipeline import storage
from pipeline.settings import SparkSettings

PARQUET_CODEC = (
    "zstd"  # every Parquet file of a run: Spark's writers here, the driver-side ones in jobs/output.py
)

log = logging.getLogger(__name__)


def _prepare_env() -> None:
    # Executors must run the same interpreter (and so the same installed package) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")


MIN_DRIVER_MEMORY_MB = 1024  # Spark refuses heaps under ~450 MB; 1 GB leaves execution memory to work with


def machine_memory_bytes() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def local_driver_memory(spark_settings: SparkSettings, machine_bytes: int | None = None) -> str:
    """`spark.driver.memory` for a local run: the configured value, else a share of the machine
    (`driver_memory_fraction`, capped at `driver_memory_max_gb`, at least 1 GB)."""
    if spark_settings.driver_memory:
        return str(spark_settings.driver_memory)
    machine = machine_memory_bytes() if machine_bytes is None else machine_bytes
    share_mb = int(machine * spark_settings.driver_memory_fraction) // 2**20
    cap_mb = int(spark_settings.driver_memory_max_gb * 1024)
    return f"{max(MIN_DRIVER_MEMORY_MB, min(share_mb, cap_mb))}m"


def shuffle_settings(spark_settings: SparkSettings) -> dict[str, str]:
    """Adaptive execution with coalescing of small shuffle partitions; a fixed count if configured
    (else each global stage sets its own with `size_shuffle_partitions`). Coalescing applies to the
    frames a stage persists too: dedup's narrow tables (connected components' edges, a few MB at 1M
    documents) kept one partition per shuffle partition, and every later round ran that many tasks."""
    settings = {
        "spark.sql.adaptive.enabled": "true",
        "spark.sql.adaptive.coalescePartitions.enabled": "true",
        "spark.sql.optimizer.canChangeCachedPlanOutputPartitioning": "true",
    }
    if spark_settings.shuffle_partitions:
        settings["spark.sql.shuffle.partitions"] = str(spark_settings.shuffle_partitions)
    return settings


def size_shuffle_partitions(spark, cfg: dict[str, Any], inp: str) -> int:
    """Set `spark.sql.shuffle.partitions` for a global stage reading `inp`: the configured count, else
    one per `shuffle_input_mb` of input on disk, at least one per core, at most `max_shuffle_partitions`.
    The size is listed through `pipeline.storage`, so object stores are sized without Hadoop's connector."""
    spark_settings = SparkSettings.from_config(cfg)
    if spark_settings.shuffle_partitions:
        count = int(spark_settings.shuffle_partitions)
    else:
        size = sum(size for _, size, _ in storage.files_under(inp))
        per_partition = spark_settings.shuffle_input_mb * 2**20
        count = max(spark.sparkContext.defaultParallelism, -(-size // per_partition))
        count = min(count, spark_settings.max_shuffle_partitions)
    spark.conf.set("spark.sql.shuffle.partitions", str(count))
    log.info("%s: %d shuffle partitions", inp, count)
    return count


# Passed on to the executors, so tasks reach the same S3-compatible store as the driver (never secrets:
# executors take credentials from their own AWS chain: environment, profile, instance role).
FORWARDED_ENV = (storage.ENDPOINT_ENV, "AWS_REGION", "AWS_DEFAULT_REGION")


def object_store_settings(environ: dict[str, str] | None = None) -> dict[str, str]:
    """Spark settings that point the executors, and Hadoop's S3A connector where a cluster has it, at
    the store named by the environment: `spark.executorEnv.*` for `FORWARDED_ENV`, and with a custom
    endpoint, S3A's endpoint with path-style addressing (what MinIO, Ceph and the like serve). Without
    the connector (the pyspark wheel) the `fs.s3a.*` keys are read by nothing."""
    environ = os.environ if environ is None else environ
    settings = {f"spark.executorEnv.{name}": environ[name] for name in FORWARDED_ENV if environ.get(name)}
    endpoint = environ.get(storage.ENDPOINT_ENV)
    if endpoint:
        settings["spark.hadoop.fs.s3a.endpoint"] = endpoint
        settings["spark.hadoop.fs.s3a.path.style.access"] = "true"
        region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
        if region:
            settings["spark.hadoop.fs.s3a.endpoint.region"] = region
    return settings


def class_archive_path(java_options: str) -> Path:
    """The class-data archive for this environment: one per Python environment (its jars are the JVM's
    class path), JVM build and option set, since an archive made under others would not load."""
    java = Path(os.environ.get("JAVA_HOME", ""), "bin", "java") if os.environ.get("JAVA_HOME") else None
    java = Path(os.path.realpath(java or shutil.which("java") or "java"))
    libjvm = java.parent.parent / "lib" / "server" / "libjvm.so"  # changes when the JDK is upgraded in place
    built = libjvm.stat().st_mtime_ns if libjvm.exists() else 0
    key = "\0".join([sys.prefix, str(java), str(built), java_options])
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return Path(sys.prefix) / "share" / "webdata" / f"spark-classes-{digest}.jsa"


def local_java_options(spark_settings: SparkSettings) -> str:
    """JVM options of a local run: the configured ones, plus the class archive once built."""
    options = spark_settings.local_java_options or ""
    archive = class_archive_path(options)
    if archive.exists():  # the JVM maps Spark's classes from it instead of loading each from its jar
        options = f"{options} -XX:SharedArchiveFile={archive}".strip()
    return options


def build_class_archive(cfg: dict[str, Any] | None = None) -> Path:
    """Write the class-data archive used by every later local run (`python -m jobs class-archive`,
    run by `make venv`): a JVM started with the run's options runs a small job touching what the stages
    use (Python workers, Arrow, Parquet, a shuffle, a join) and dumps the classes it loaded as it exits.
    The archive appears by rename only after that JVM has exited cleanly: a truncated one crashes the
    JVM that maps it."""
    options = SparkSettings.from_config(cfg).local_java_options or ""
    target = class_archive_path(options)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    spark = get_spark(
        cfg,
        "local[1]",
        "class-archive",
        java_options=f"{options} -XX:ArchiveClassesAtExit={partial} -Xlog:cds*=error".strip(),
    )
    try:
        _touch_what_stages_use(spark)
    finally:
        spark.stop()
    jvm = spark.sparkContext._gateway.proc  # the JVM pyspark launched; it exits when its stdin closes
    jvm.stdin.close()
    if jvm.wait(timeout=600) != 0 or not partial.exists():
        partial.unlink(missing_ok=True)
        raise RuntimeError(f"the JVM exited with {jvm.returncode} without writing {partial}")
    partial.replace(target)
    return target


def _touch_what_stages_use(spark) -> None:
    from pyspark.sql import functions as F

    with tempfile.TemporaryDirectory() as folder:
        df = spark.range(4000, numPartitions=2).selectExpr(
            "id", "cast(id % 7 as string) AS k", "repeat('w ', 40) AS text"
        )
        df.mapInArrow(lambda batches: batches, df.schema).write.parquet(f"{folder}/a")
        back = spark.read.parquet(f"{folder}/a")
        groups = back.groupBy("k").agg(F.count("*").alias("n"), F.min("id").alias("first"))
        back.join(groups, "k").where(F.col("id") == F.col("first")).count()


def get_spark(
    cfg: dict[str, Any] | None = None,
    master: str | None = None,
    app_name: str = "webdata",
    java_options: str | None = None,
):
    """A SparkSession configured for the pipeline.

    Precedence for the master URL: the `master` argument (`--master` on the CLI), then a master that
    `spark-submit` already set, then `spark.master` of the run config. `java_options` replaces the
    local run's JVM options (`local_java_options`).
    """
    _prepare_env()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    spark_settings = SparkSettings.from_config(cfg)  # a partial cfg keeps the YAML defaults
    conf = SparkConf()  # under spark-submit this already holds --master and --conf values
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    elif not conf.contains("spark.master"):
        master = spark_settings.master
        builder = builder.master(master)
    else:
        master = conf.get("spark.master")
    settings = {
        **shuffle_settings(spark_settings),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(spark_settings.arrow_batch_rows),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        # We write our own _SUCCESS marker once kept, rejected and stats are all in place.
        "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
        "spark.sql.parquet.compression.codec": PARQUET_CODEC,
        "spark.ui.showConsoleProgress": "true",
        "spark.ui.enabled": "false",
        "spark.driver.host": os.environ.get("SPARK_LOCAL_IP", "127.0.0.1"),
        "spark.python.worker.reuse": "true",
        **object_store_settings(),
    }
    if master.startswith("local") and not conf.contains("spark.driver.memory"):
        settings["spark.driver.memory"] = local_driver_memory(spark_settings)
    elif spark_settings.driver_memory and not conf.contains("spark.driver.memory"):
        settings["spark.driver.memory"] = str(spark_settings.driver_memory)
    if master.startswith("local"):  # the JVM is not started yet: its options still apply
        options = local_java_options(spark_settings) if java_options is None else java_options
        if options:
            settings["spark.driver.extraJavaOptions"] = options
    for key, value in settings.items():
        if not conf.contains(key):
            builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("WARN")
    return spark
