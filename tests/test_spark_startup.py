"""Issue 17: a local run's JVM starts with the configured options and maps Spark's classes from the
class archive that `make venv` builds (`python -m jobs class-archive`)."""

from __future__ import annotations

import sys

from jobs.session import class_archive_path, local_java_options
from pipeline.config import load_config
from pipeline.settings import SparkSettings


def _jvm_arguments(spark) -> list[str]:
    bean = spark._jvm.java.lang.management.ManagementFactory.getRuntimeMXBean()
    return list(bean.getInputArguments())


def test_local_jvm_runs_with_the_configured_options_and_the_class_archive(spark):
    settings = SparkSettings.from_config(load_config())
    arguments = _jvm_arguments(spark)
    for option in settings.local_java_options.split():
        assert option in arguments, (option, arguments)
    archive = class_archive_path(settings.local_java_options)
    assert archive.exists(), (
        f"no class archive at {archive}: `make venv` builds it (python -m jobs class-archive)"
    )
    assert f"-XX:SharedArchiveFile={archive}" in arguments
    assert "sharing" in spark._jvm.java.lang.System.getProperty("java.vm.info")


def test_class_archive_belongs_to_one_environment_and_option_set():
    a = class_archive_path("-XX:TieredStopAtLevel=1")
    assert a.is_relative_to(sys.prefix)  # the environment's jars are the archive's class path
    assert a != class_archive_path("-XX:+UseSerialGC")  # an archive made under other options would not load
    assert a == class_archive_path("-XX:TieredStopAtLevel=1")


def test_no_archive_flag_without_an_archive():
    settings = SparkSettings.from_config(load_config(overrides={"spark.local_java_options": "-Xss2m"}))
    assert not class_archive_path("-Xss2m").exists()
    assert local_java_options(settings) == "-Xss2m"


def test_small_warc_files_share_a_task_and_big_ones_do_not(spark, tmp_path):
    from jobs.extract import files

    small = []
    for i in range(30):
        small.append(str(tmp_path / f"s{i:02d}.warc.gz"))
        (tmp_path / f"s{i:02d}.warc.gz").write_bytes(b"x" * 1000)
    table = files(spark, small)
    assert table.rdd.getNumPartitions() == spark.sparkContext.defaultParallelism  # at least one per core
    by_partition = table.rdd.glom().map(lambda rows: [r.path for r in rows]).collect()
    assert [p for part in by_partition for p in part] == small  # input order, consecutive runs
    urls = [f"https://data.commoncrawl.org/crawl-data/x/{i}.warc.gz" for i in range(5)]
    assert files(spark, urls).rdd.getNumPartitions() == len(urls)  # size unknown: a task each
    big = tmp_path / "big.warc.gz"
    with open(big, "wb") as f:
        f.truncate(100 << 20)  # sparse: 100 MB on paper, no disk used
    assert files(spark, [*small, str(big)]).rdd.getNumPartitions() == len(small) + 1
