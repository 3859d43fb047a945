"""Scheduled-job behaviour: a stage submitted with `spark-submit` to a standalone Spark cluster
(a master and a worker started with Spark's own launcher on loopback), and meaningful exit codes.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pyspark
import pytest

from pipeline import layout
from pipeline.fixtures.warc_writer import article_html, write_html_warc

SPARK_HOME = Path(pyspark.__file__).parent
REPO = Path(__file__).resolve().parent.parent
PARAGRAPH = (
    "The committee met on Tuesday to discuss the new budget for the public library, and the members agreed that "
    "the reading rooms should stay open in the evening. Several residents spoke in favour of the plan because "
    "students and workers need a quiet place to study after their classes and their jobs."
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listening on {port}")


@pytest.fixture(scope="module")
def standalone_cluster(tmp_path_factory):
    env = {
        **os.environ,
        "SPARK_HOME": str(SPARK_HOME),
        "SPARK_LOCAL_IP": "127.0.0.1",
        "PYSPARK_PYTHON": sys.executable,
    }
    port, log_dir = _free_port(), tmp_path_factory.mktemp("spark-logs")
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    master = subprocess.Popen(
        [
            spark_class,
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(_free_port()),
        ],
        env=env,
        stdout=open(log_dir / "master.log", "w"),
        stderr=subprocess.STDOUT,
    )
    url = f"spark://127.0.0.1:{port}"
    worker = None
    try:
        _wait_for_port(port)
        worker = subprocess.Popen(
            [
                spark_class,
                "org.apache.spark.deploy.worker.Worker",
                url,
                "--cores",
                "2",
                "--memory",
                "2g",
                "--webui-port",
                str(_free_port()),
                "--work-dir",
                str(log_dir / "work"),
            ],
            env=env,
            stdout=open(log_dir / "worker.log", "w"),
            stderr=subprocess.STDOUT,
        )
        yield url, env
    finally:
        for proc in (worker, master):
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=30)


def test_stage_runs_under_spark_submit_on_a_standalone_cluster(standalone_cluster, tmp_path):
    url, env = standalone_cluster
    pages = [
        (f"https://news.example.org/story/{i}", article_html(f"Story {i}", [PARAGRAPH] * 3)) for i in range(4)
    ]
    warc = write_html_warc(tmp_path / "in" / "pages.warc.gz", pages)
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            str(SPARK_HOME / "bin" / "spark-submit"),
            "--master",
            url,
            "--conf",
            "spark.executor.memory=1g",
            str(REPO / "jobs" / "__main__.py"),
            "extract",
            "--input",
            str(warc),
            "--output",
            str(out),
            "--set",
            "extract.url_prechecks=[]",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert layout.stage_done(out, "extract")
    kept = pq.read_table(layout.docs_dir(out, "extract")).to_pylist()
    assert sorted(r["url"] for r in kept) == sorted(u for u, _ in pages)
    assert all("reading rooms" in r["text"] for r in kept)


def test_failure_exits_non_zero_with_reason_on_last_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs",
            "extract",
            "--input",
            str(tmp_path / "missing"),
            "--output",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    assert "no WARC files found" in proc.stderr.strip().splitlines()[-1]
