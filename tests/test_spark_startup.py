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
