"""An executor's Python worker killed mid-task: Spark retries the task and the output has no duplicates.

The extract job runs as a scheduled job would (`python -m jobs extract` in a subprocess) on
`local[2,3]`: two cores, and a task may fail up to 3 times (local mode's spelling of
spark.task.maxFailures). The test-only hook `WEBDATA_FAULT_KILL_ONCE` (pipeline/faults.py)
makes the first worker that gets there SIGKILL itself right after handing one batch of its file to
Spark, so part of that task's rows were already on their way to the Parquet writer. The run must
succeed and equal a clean run row for row.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipeline.config import load_config
from pipeline.faults import FAULT_KILL_ONCE_ENV
from pipeline.fixtures.warc_writer import article_html

REPO = Path(__file__).resolve().parent.parent
OVERRIDES = {"spark.arrow_batch_rows": 2, "extract.url_prechecks": []}  # 2 rows a batch: several per file
SENTENCES = [
    "The river rose slowly through the night and the ferry stayed on the far bank until morning.",
    "Bakers in the old quarter start work at four so that the first loaves are ready at seven.",
    "A new survey of the coastline found that the dunes had moved ten metres inland in a decade.",
    "The museum lent its oldest map to a gallery abroad for the first time in forty years.",
]


def write_inputs(folder: Path, files: int = 4, pages: int = 7) -> list[str]:
    """`files` WARC files of `pages` English articles; every record has its own WARC-Record-ID."""
    folder.mkdir(parents=True)
    http = StatusAndHeaders("200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1")
    paths = []
    for f in range(files):
        path = folder / f"part-{f}.warc.gz"
        with path.open("wb") as fh:
            writer = WARCWriter(fh, gzip=True)
            for p in range(pages):
                html = article_html(f"Report {f}-{p}", [f"Report {f}-{p}. " + s for s in SENTENCES])
                url = f"https://site{f}.example.org/page/{p}"
                writer.write_record(
                    writer.create_warc_record(
                        url, "response", payload=io.BytesIO(html.encode()), http_headers=http
                    )
                )
        paths.append(str(path))
    return paths


def all_rows(out: Path) -> pd.DataFrame:
    tables = [pq.read_table(out / kind / "extract").to_pandas() for kind in ("docs", "rejected")]
    rows = pd.concat(tables, ignore_index=True).drop(columns=["extract_ms"])  # wall time differs by run
    return rows.sort_values("doc_id").reset_index(drop=True)


def test_killed_worker_is_retried_without_duplicate_output(spark, tmp_path):
    from jobs.extract import run

    paths = write_inputs(tmp_path / "in")
    marker = tmp_path / "killed-once"
    env = {**os.environ, FAULT_KILL_ONCE_ENV: str(marker), "PYSPARK_PYTHON": sys.executable}
    sets = [arg for key, value in OVERRIDES.items() for arg in ("--set", f"{key}={value}")]
    command = [sys.executable, "-m", "jobs", "extract", "--input", str(tmp_path / "in")]
    command += ["--output", str(tmp_path / "killed"), "--master", "local[2,3]", *sets]
    proc = subprocess.run(command, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert marker.exists(), "the fault hook never fired"
    assert "Python worker exited unexpectedly" in proc.stderr, "no task attempt was lost"

    run(spark, load_config(overrides=OVERRIDES), paths, str(tmp_path / "clean"))
    clean, killed = all_rows(tmp_path / "clean"), all_rows(tmp_path / "killed")
    assert len(clean) == 28 and clean.drop_reason.isna().all()
    assert not killed.doc_id.duplicated().any() and not killed.duplicated(["warc_file", "warc_offset"]).any()
    pd.testing.assert_frame_equal(killed, clean)
    stats = [
        pq.read_table(tmp_path / run_dir / "stats" / "extract.parquet") for run_dir in ("killed", "clean")
    ]
    assert stats[0].equals(stats[1])
