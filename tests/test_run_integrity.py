"""No lost, mixed or stale output: the run lock, stage fingerprints, refusing unfinished input, and
replacing a complete output only when the new one is complete.

The fingerprint tests work on a copy of the session's `demo_run` output, so only the stages a test
changes really run again.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import fingerprint, layout, stages
from pipeline.runlock import RunLocked, run_lock

REPO = Path(__file__).resolve().parent.parent
HOLD_LOCK = "import sys, time; from pipeline.runlock import run_lock\nwith run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(120)"


def _jobs(*args: str, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "jobs", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )


def _hold_lock(out: Path) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_is_refused_naming_the_holder_and_a_dead_holder_is_stale(tmp_path):
    out = tmp_path / "run"
    holder = _hold_lock(out)
    try:
        started = time.monotonic()
        proc = _jobs("filter", "--output", str(out))
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert f"pid {holder.pid}" in last and "being written by" in last, last
        assert time.monotonic() - started < 60  # refused at once, before Spark
        with pytest.raises(RunLocked, match=f"pid {holder.pid}"):
            with run_lock(out):
                pass
        assert not layout.config_path(out).exists()  # a refused run writes nothing
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with run_lock(out):  # the killed holder's lock is gone with it
        assert f"pid {os.getpid()}" in layout.lock_path(out).read_text()


def test_stage_refuses_input_without_success(tmp_path, spark):
    from jobs.chain import run_stage
    from pipeline.config import load_config

    half = tmp_path / "half"
    half.mkdir()
    pq.write_table(pa.table({"doc_id": ["a"], "text": ["half-written"]}), half / "part-0.parquet")
    with pytest.raises(fingerprint.MissingInput, match="_SUCCESS"):
        run_stage(spark, load_config(), "filter", str(half), str(tmp_path / "out"))
    assert not layout.stage_done(tmp_path / "out", "filter")
    proc = _jobs("quality", "--output", str(tmp_path / "out2"), "--input", str(half))
    assert proc.returncode == 1 and "has no _SUCCESS" in proc.stderr.strip().splitlines()[-1], proc.stderr[
        -2000:
    ]
    assert not layout.config_path(tmp_path / "out2").exists()


@pytest.fixture()
def run_copy(demo_run, tmp_path):
    reference, cfg, _ = demo_run
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    return out, cfg, sorted(str(p) for p in (reference.parent / "crawl").glob("*.warc.gz"))


def test_same_input_and_config_skip_everything_and_leave_config_yaml_alone(run_copy, spark, capsys):
    from jobs.chain import crawl_to_shards
    from pipeline.config import load_config

    out, cfg, warcs = run_copy
    before = layout.config_path(out).read_text()
    # spark settings do not change what a stage writes: still nothing to do
    other_spark = load_config(overrides={**_demo_overrides(cfg), "spark.shuffle_partitions": 3})
    crawl_to_shards(spark, other_spark, warcs, str(out))
    printed = capsys.readouterr().out
    assert printed.count("already complete") == len(stages.NAMES), printed
    assert layout.config_path(out).read_text() == before  # nothing ran, nothing rewritten


def _demo_overrides(cfg: dict) -> dict:
    return {"extract.url_prechecks": cfg["extract"]["url_prechecks"]}


def test_changed_config_or_forced_stage_reruns_it_and_everything_after(run_copy, spark, capsys):
    from jobs.chain import crawl_to_shards, run_stage
    from pipeline.config import load_config

    out, cfg, warcs = run_copy
    first = {s: fingerprint.recorded(out, s) for s in stages.NAMES}
    assert all(first.values()), first  # the chain recorded a fingerprint for every stage

    # PII off: the filter's config section changed, so filter reruns and every later stage is stale
    no_pii = load_config(overrides={**_demo_overrides(cfg), "filter.pii.enabled": False})
    run_stage(spark, no_pii, "filter", str(layout.docs_dir(out, "extract")), str(out))
    assert "input or config changed" in capsys.readouterr().out
    assert layout.config_path(out).read_text().count("enabled: false") > 0  # the stage that ran wrote it
    # quality read the old filter output: stale now (dedup and shards follow once quality reruns)
    assert not fingerprint.is_current(out, "quality", _want(out, cfg, "quality"))

    # --force on filter with the original config: filter reruns, then quality (its input changed)
    run_stage(spark, cfg, "filter", str(layout.docs_dir(out, "extract")), str(out), force=True)
    capsys.readouterr()
    crawl_to_shards(spark, cfg, warcs, str(out), stages=("extract", "filter", "quality"))
    printed = capsys.readouterr().out
    assert "[extract] already complete" in printed and "[filter] already complete" in printed, printed
    assert "[quality] input or config changed" in printed, printed
    assert fingerprint.recorded(out, "quality")["run_id"] != first["quality"]["run_id"]
    assert not fingerprint.is_current(out, "dedup", _want(out, cfg, "dedup"))


def _want(out: Path, cfg: dict, stage: str) -> dict:
    previous = stages.previous(stage)
    return fingerprint.expected(
        cfg, stage, fingerprint.docs_input_fingerprint(layout.docs_dir(out, previous))
    )


class _Killed(BaseException):
    """Stands in for the SIGKILL of pipeline/faults.py, in process (no second Spark start)."""


def test_forced_rerun_killed_before_its_marker_leaves_the_old_output_complete_and_read_exactly(
    run_copy, spark, monkeypatch
):
    import jobs.output
    from jobs.chain import run_stage
    from jobs.frames import read_parquet
    from pipeline.commit import listed_parts

    out, cfg, _ = run_copy
    old_marker = layout.success_path(out, "filter").read_text()
    docs = layout.docs_dir(out, "filter")
    extract_docs = str(layout.docs_dir(out, "extract"))
    old_ids = sorted(r["doc_id"] for r in read_parquet(spark, docs).select("doc_id").collect())

    def kill_at(point):
        monkeypatch.setattr(jobs.output, "fault_point", lambda name: _raise(name == point))

    # killed with the new parts written beside the old ones (scratch), or with the stats tables written
    # too (publish): the old marker still stands, and the stage reads exactly the parts it lists
    for point in ("scratch:filter", "publish:filter"):
        kill_at(point)
        with pytest.raises(_Killed):
            run_stage(spark, cfg, "filter", extract_docs, str(out), force=True)
        assert layout.success_path(out, "filter").read_text() == old_marker, point
        assert len(list(docs.glob("part-*.parquet"))) > len(listed_parts(docs)), point  # the new attempt's
        assert sorted(r["doc_id"] for r in read_parquet(spark, docs).select("doc_id").collect()) == old_ids
    assert fingerprint.is_current(out, "filter", _want(out, cfg, "filter"))  # the old output is still current

    # the rerun commits a complete output again and deletes what the killed attempts left
    monkeypatch.setattr(jobs.output, "fault_point", lambda name: None)
    run_stage(spark, cfg, "filter", extract_docs, str(out), force=True)
    assert (
        json.loads(layout.success_path(out, "filter").read_text())["run_id"]
        != json.loads(old_marker)["run_id"]
    )
    assert sorted(docs.glob("part-*.parquet")) == sorted(listed_parts(docs))
    assert sorted(r["doc_id"] for r in read_parquet(spark, docs).select("doc_id").collect()) == old_ids


def _raise(really: bool) -> None:
    if really:
        raise _Killed()


def test_empty_crawl_ends_with_a_clear_reason_and_no_shards(demo_run, spark, tmp_path):
    import jobs.shards

    reference, cfg, _ = demo_run
    empty = tmp_path / "dedup_docs"
    empty.mkdir()
    pq.write_table(pq.read_table(layout.docs_dir(reference, "dedup")).slice(0, 0), empty / "part-0.parquet")
    out = tmp_path / "run"
    with pytest.raises(SystemExit, match="no document with text reached this stage.*no shards written"):
        jobs.shards.run(spark, cfg, str(empty), str(out))
    assert not layout.shards_dir(out).exists() and not layout.stage_done(out, "shards")
