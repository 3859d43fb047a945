"""Failures end in one line a user can act on: a full disk (on a real, small tmpfs), SIGINT and SIGTERM
(sent to a real `crawl-to-shards`), and user paths with spaces and quotes through the Makefile."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from jobs import failures
from pipeline import layout
from pipeline.fixtures.demo_crawl import generate_demo_crawl
from pipeline.runlock import run_lock

REPO = Path(__file__).resolve().parent.parent
NO_BLOCKLIST = ["--set", "extract.url_prechecks=[]"]  # the demo crawl needs no shared data


@pytest.fixture
def small_disk(tmp_path):
    """A 300 KiB tmpfs: a real file system that fills up, without filling the machine's disk."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k", "tmpfs", str(mount)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root or CAP_SYS_ADMIN): {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.fixture(scope="module")
def crawl(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("crawl")
    generate_demo_crawl(folder, seed=1234)
    return folder


def _crawl_to_shards(crawl: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "jobs",
        "crawl-to-shards",
        "--input",
        str(crawl),
        "--output",
        str(out),
        *NO_BLOCKLIST,
        *extra,
    ]


def test_full_disk_ends_in_one_line_and_removes_the_scratch(crawl, small_disk):
    out = small_disk / "my run"
    done = subprocess.run(_crawl_to_shards(crawl, out), cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    lead = "FAILED: no space left on device writing "
    assert last.startswith(lead), last
    # whichever file met the full disk first: a part in a stage folder, or the scratch
    written_under = [
        layout.work_root(out),
        *(kind(out, s) for kind in (layout.docs_dir, layout.rejected_dir) for s in ("extract", "filter")),
    ]
    assert any(last[len(lead) :].startswith(str(folder)) for folder in written_under), last
    # No trace of ours after Spark's log. Spark may still log the other task's loss after the abort, its
    # Python worker's trace inside that record ("...Python worker: Traceback"); one of ours starts a line.
    after_abort = done.stderr.split("ERROR TaskSetManager")[-1].splitlines()
    assert not any(line.startswith("Traceback") for line in after_abort), done.stderr[-3000:]
    scratch = layout.work_root(out)
    assert not scratch.exists() or not any(scratch.iterdir())  # the failed attempt's scratch is gone
    assert not any(layout.docs_dir(out, "extract").glob("*.parquet"))  # and its unlisted parts
    with run_lock(out):  # and the lock with it
        pass


def test_full_disk_in_the_jvm_is_recognised_with_the_path_it_wrote(spark, small_disk):
    target = small_disk / "table"
    with pytest.raises(Exception) as caught:
        spark.range(200_000).selectExpr("uuid() AS u").write.parquet(str(target))
    assert type(caught.value).__name__ == "Py4JJavaError"
    assert failures.is_out_of_disk(caught.value)
    assert failures.written_path(caught.value).startswith(str(target))
    reason = failures.out_of_disk_reason(caught.value, None)
    assert reason.startswith(f"no space left on device writing {target}") and "\n" not in reason


def test_other_errors_are_not_taken_for_a_full_disk():
    assert not failures.is_out_of_disk(OSError(13, "Permission denied", "/x"))
    assert failures.out_of_disk_reason(ValueError("bad value\nmore"), None) is None
    assert failures.reason_line(ValueError("bad value\nmore")) == "ValueError: bad value"


def _interrupt_when(proc: subprocess.Popen, marker: str, signum: int) -> list[str]:
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if marker in line:
            time.sleep(1)  # inside the stage, not before it
            proc.send_signal(signum)
            break
    else:
        pytest.fail(f"the run ended before {marker!r}:\n{''.join(seen)}")
    proc.stdout.read()
    return seen


@pytest.mark.parametrize(
    ("signum", "marker", "code"),
    [(signal.SIGINT, "[quality] running", 130), (signal.SIGTERM, "[extract + filter] running", 143)],
)
def test_interrupt_ends_in_one_line_releases_the_lock_and_resumes(tmp_path, crawl, signum, marker, code):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        _crawl_to_shards(crawl, out, "--until", "quality"),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        _interrupt_when(proc, marker, signum)
        stderr = proc.stderr.read()
        assert proc.wait(timeout=120) == code
    finally:
        proc.kill()
    name = signal.Signals(signum).name
    assert stderr.strip().splitlines()[-1] == f"FAILED: interrupted ({name})"
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    with run_lock(out):
        pass
    assert not layout.stage_done(out, "quality")  # the interrupted stage left no output that looks complete
    if signum == signal.SIGINT:  # the stages finished before the interrupt are kept; the rest reruns
        rerun = subprocess.run(
            _crawl_to_shards(crawl, out, "--until", "quality"),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        assert "[extract] already complete" in rerun.stdout and "[filter] already complete" in rerun.stdout
        assert layout.stage_done(out, "quality")


def test_makefile_passes_user_paths_with_spaces_and_quotes_as_one_argument(tmp_path):
    """A real `make crawl-to-shards` whose Python only records its arguments."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    record = tmp_path / "argv.txt"
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done >> "{record}"\n')
    python.chmod(0o755)
    (venv / ".installed").touch()  # the environment counts as installed
    out = str(tmp_path / "my run's out")
    config = str(tmp_path / "my config.yaml")
    done = subprocess.run(
        ["make", "-s", "crawl-to-shards", f"VENV={venv}", f"OUT={out}", f"CONFIG={config}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    argv = record.read_text().splitlines()
    assert argv.count("--output") == 2  # demo-crawl, then crawl-to-shards
    assert f"{out}/demo_crawl" in argv and out in argv and config in argv
    assert argv[argv.index("--input", argv.index("crawl-to-shards")) + 1] == f"{out}/demo_crawl"
