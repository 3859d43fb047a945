"""Shared fixtures: one local Spark session per test session, and the real third-party data."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))

os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("RAY_TRAIN_HEALTH_CHECK_INTERVAL_S", "0.1")


def pytest_configure(config):
    """The loopback S3 server starts before any Spark or Ray process, which inherit its endpoint."""
    import s3_server

    s3_server.start()


@pytest.fixture
def s3_bucket() -> str:
    """A fresh bucket on the loopback S3 server (tests/s3_server.py): `s3://<name>`."""
    import s3_server

    return s3_server.new_bucket()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip: these tests need the real third-party data beside the checkout."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set WEBDATA_SHARED_DATA or place ../shared/data)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def spark():
    from jobs.session import get_spark
    from pipeline.config import load_config

    cfg = load_config()
    session = get_spark(cfg, master="local[2]", app_name="webdata-tests")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


DEMO_PAGES = 100  # small enough for the suite, still one page of every planted kind


@pytest.fixture(scope="session")
def demo_run(spark, tmp_path_factory):
    """`crawl-to-shards` over a generated demo crawl, run once per test session (in-process Spark).

    Returns (OUT, config, demo manifest). Without ../shared/data the URL blocklist pre-check has no
    list to load, so it is switched off and the tests that need it skip.
    """
    import json

    from jobs.chain import crawl_to_shards
    from pipeline import layout
    from pipeline.config import load_config
    from pipeline.fixtures.demo_crawl import generate_demo_crawl

    base = tmp_path_factory.mktemp("demo")
    files = generate_demo_crawl(base / "crawl", seed=1234, n_pages=DEMO_PAGES)
    overrides = {} if SHARED_DATA.is_dir() else {"extract.url_prechecks": []}
    cfg = load_config(overrides=overrides)
    out = base / "run"
    out.mkdir()
    layout.save_run_config(cfg, out)
    crawl_to_shards(spark, cfg, [str(f) for f in files], str(out))
    manifest = json.loads((base / "crawl" / "demo_manifest.json").read_text())
    return out, cfg, manifest
