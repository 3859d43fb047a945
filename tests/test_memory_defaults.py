"""Issue 20: Spark defaults that follow the machine and the data, and an out-of-memory stage that
ends with one line naming the setting to raise."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.session import MIN_DRIVER_MEMORY_MB, local_driver_memory
from pipeline.config import load_config
from pipeline.schema import DOC_SCHEMA
from pipeline.settings import SparkSettings

ROOT = Path(__file__).resolve().parents[1]
GB = 2**30


def test_driver_memory_is_a_capped_share_of_the_machine():
    spark_settings = SparkSettings.from_config(load_config())
    fraction, cap_gb = spark_settings.driver_memory_fraction, spark_settings.driver_memory_max_gb
    assert local_driver_memory(spark_settings, machine_bytes=24 * GB) == f"{int(24 * 1024 * fraction)}m"
    assert local_driver_memory(spark_settings, machine_bytes=1024 * GB) == f"{cap_gb * 1024}m"  # capped
    assert local_driver_memory(spark_settings, machine_bytes=1 * GB) == f"{MIN_DRIVER_MEMORY_MB}m"  # floor
    given = dataclasses.replace(spark_settings, driver_memory="3g")
    assert local_driver_memory(given, machine_bytes=24 * GB) == "3g"


@pytest.mark.spark
def test_shuffle_partitions_follow_the_input_size(spark, tmp_path):
    from jobs.session import size_shuffle_partitions

    cfg = load_config(overrides={"spark.shuffle_input_mb": 1})
    small, big = tmp_path / "small", tmp_path / "big"
    for path, megabytes in ((small, 0), (big, 6)):
        path.mkdir()
        (path / "part-0.parquet").write_bytes(os.urandom(megabytes * 2**20 + 1000))
    cores = spark.sparkContext.defaultParallelism
    assert size_shuffle_partitions(spark, cfg, str(small)) == cores  # at least one per core
    assert size_shuffle_partitions(spark, cfg, str(big)) == 7  # ceil(6 MB + 1000 B over 1 MB)
    assert spark.conf.get("spark.sql.shuffle.partitions") == "7"
    assert spark.conf.get("spark.sql.adaptive.coalescePartitions.enabled") == "true"
    capped = load_config(overrides={"spark.shuffle_input_mb": 1, "spark.max_shuffle_partitions": 3})
    assert size_shuffle_partitions(spark, capped, str(big)) == 3
    fixed = load_config(overrides={"spark.shuffle_partitions": 5})
    assert size_shuffle_partitions(spark, fixed, str(big)) == 5
    spark.conf.set("spark.sql.shuffle.partitions", "4")  # the suite's session default


def _huge_documents(path: Path, n: int = 24, mb: int = 16) -> None:
    """n documents of `mb` MB each (compress to ~40 KB): more text than a 512 MB heap holds."""
    text = "lorem ipsum dolor sit amet " * (mb * 2**20 // 27)
    cols = {
        "doc_id": [f"d{i}" for i in range(n)],
        "url": [f"https://x.com/{i}" for i in range(n)],
        "host": ["x.com"] * n,
        "text": [f"{text}{i}" for i in range(n)],
    }
    arrays = [pa.array(cols[f.name], f.type) if f.name in cols else pa.nulls(n, f.type) for f in DOC_SCHEMA]
    path.mkdir(parents=True)
    pq.write_table(
        pa.Table.from_arrays(arrays, schema=DOC_SCHEMA), path / "part-0.parquet", compression="zstd"
    )
    (path / "_SUCCESS").write_text("")  # a finished upstream stage's output


@pytest.mark.spark
def test_out_of_memory_names_the_stage_and_the_setting(tmp_path):
    _huge_documents(tmp_path / "in")
    command = [sys.executable, "-m", "jobs", "dedup", "--input", str(tmp_path / "in"), "--output"]
    command += [str(tmp_path / "out"), "--set", "spark.driver_memory=512m", "--set", "spark.master=local[1]"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    except subprocess.TimeoutExpired as exc:  # a hang after the JVM died is a failure, not a skip
        pytest.fail(f"the job did not end after running out of memory: {exc}\n{(exc.stderr or '')[-3000:]}")
    last = done.stderr.strip().splitlines()[-1]
    assert done.returncode == 1, done.stderr[-3000:]
    assert last.startswith("FAILED: stage dedup ran out of memory: raise spark.driver_memory (now 512m"), last
    assert "--set spark.driver_memory=1024m" in last
    assert "job failed" not in done.stderr  # the generic handler's traceback is not printed
