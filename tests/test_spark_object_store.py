"""Spark jobs and an object store: the endpoint reaches the executors (never a secret), S3A is pointed
at it, global stages size their shuffle from object listings, and stats tables bin projections kept
there."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs.session import object_store_settings
from pipeline.config import load_config


def test_the_endpoint_and_region_are_forwarded_never_the_credentials():
    environ = {
        "AWS_ENDPOINT_URL": "http://minio.internal:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "AKIA-not-forwarded",
        "AWS_SECRET_ACCESS_KEY": "not-forwarded",
        "AWS_SESSION_TOKEN": "not-forwarded",
    }
    settings = object_store_settings(environ)
    assert settings == {
        "spark.executorEnv.AWS_ENDPOINT_URL": "http://minio.internal:9000",
        "spark.executorEnv.AWS_REGION": "eu-west-1",
        "spark.hadoop.fs.s3a.endpoint": "http://minio.internal:9000",
        "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1",
    }
    # Plain AWS (no custom endpoint): S3A keeps its own defaults.
    assert object_store_settings({"AWS_DEFAULT_REGION": "us-west-2"}) == {
        "spark.executorEnv.AWS_DEFAULT_REGION": "us-west-2"
    }
    assert object_store_settings({}) == {}


@pytest.mark.spark
def test_the_session_carries_the_endpoint_to_the_executors(spark):
    conf = dict(spark.sparkContext.getConf().getAll())
    endpoint = os.environ["AWS_ENDPOINT_URL"]  # the loopback S3 server's (tests/s3_server.py)
    assert conf["spark.executorEnv.AWS_ENDPOINT_URL"] == endpoint
    assert conf["spark.executorEnv.AWS_REGION"] == os.environ["AWS_REGION"]
    assert conf["spark.hadoop.fs.s3a.endpoint"] == endpoint
    assert not [key for key in conf if "SECRET" in key or "ACCESS_KEY" in key or "TOKEN" in key]
    seen = spark.sparkContext.parallelize([0], 1).map(lambda _: os.environ.get("AWS_ENDPOINT_URL")).collect()
    assert seen == [endpoint]


@pytest.mark.spark
def test_shuffle_partitions_are_sized_from_an_object_store_listing(spark, s3_bucket):
    from jobs.session import size_shuffle_partitions
    from pipeline import storage

    cfg = load_config(overrides={"spark.shuffle_input_mb": 1})
    folder = f"{s3_bucket}/docs/dedup"
    storage.path(f"{folder}/part-0.parquet").write_bytes(os.urandom(3 * 2**20 + 1000))
    storage.path(f"{folder}/part-1.parquet").write_bytes(os.urandom(2 * 2**20))
    try:
        assert size_shuffle_partitions(spark, cfg, folder) == 6  # ceil(5 MB + 1000 B over 1 MB)
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", "4")  # the suite's session default


@pytest.mark.spark
def test_histograms_of_a_projection_on_an_object_store(spark, tmp_path, s3_bucket):
    """The stats tables bin a projection kept on S3, on the driver and in Spark alike, as on local disk."""
    from jobs.stats_tables import histograms
    from pipeline import storage

    local, remote = [], []
    for part in range(2):
        table = pa.table(
            {
                "drop_reason": pa.array([None if i % 3 else "x.rule" for i in range(300)], pa.string()),
                "words": pa.array([(i * 37 + part) % 500 for i in range(300)], pa.int64()),
            }
        )
        local.append(str(tmp_path / f"part-{part}.parquet"))
        pq.write_table(table, local[-1])
        remote.append(f"{s3_bucket}/run/_work/s/signals/part-{part}.parquet")
        storage.path(remote[-1]).write_bytes((tmp_path / f"part-{part}.parquet").read_bytes())
    bounds = {"words": [0, 499]}
    expected = histograms(spark, local, "s", bounds).to_pylist()
    assert histograms(spark, remote, "s", bounds).to_pylist() == expected  # on the driver
    assert histograms(spark, remote, "s", bounds, driver_max_bytes=0).to_pylist() == expected  # in Spark
    assert sum(row["docs"] for row in expected) == 600
