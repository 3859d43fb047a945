"""The run lock on an object store: a lease object (pipeline/lease.py) on the loopback S3 server.

Real processes race for it where the test is about processes (a writer refused naming another, a
SIGKILLed holder); threads where it is about the store's conditional requests (8 takers of one lapsed
lease). Leases here last a second or two, so lapsing takes seconds, not a minute."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import s3_server

from pipeline import layout, lease
from pipeline.runlock import RunLocked, check_held, run_lock

REPO = Path(__file__).resolve().parent.parent
SHORT_S = 1.0  # lease duration in these tests: lapsed after about 2-3 s on the store's whole-second clock
HOLD = (
    "import sys, time\nfrom pipeline import lease\nlease.LEASE_S = float(sys.argv[3])\n"
    "from pipeline.runlock import run_lock\n"
    "with run_lock(sys.argv[1], shared=sys.argv[2] == 'shared'):\n    print('held', flush=True); time.sleep(120)"
)
RACE = (
    "import sys, time\nfrom pipeline.runlock import RunLocked, run_lock\n"
    "print('ready', flush=True); sys.stdin.readline()\n"
    "try:\n    with run_lock(sys.argv[1]):\n        print('won', flush=True); time.sleep(2)\n"
    "except RunLocked as exc:\n    print('refused', exc, flush=True)"
)


@pytest.fixture
def out(s3_bucket) -> str:
    return f"{s3_bucket}/run"


@pytest.fixture
def short_lease(monkeypatch):
    monkeypatch.setattr(lease, "LEASE_S", SHORT_S)


def _hold(out: str, mode: str, lease_s: float = SHORT_S) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, out, mode, str(lease_s)], stdout=subprocess.PIPE, text=True, cwd=REPO
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def _kill(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def _take_when_lapsed(out: str, *, shared: bool = False, within_s: float = 20.0) -> float:
    """Retry the run lock until it is taken; returns the seconds it took."""
    started = time.monotonic()
    while True:
        try:
            with run_lock(out, shared=shared):
                return time.monotonic() - started
        except RunLocked:
            assert time.monotonic() - started < within_s, f"lease not taken over within {within_s} s"
            time.sleep(0.3)


def test_two_writer_processes_racing_leave_one_winner_and_a_refusal_naming_it(out):
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACE, out],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(2)
    ]
    for proc in racers:
        assert proc.stdout.readline().strip() == "ready"
    for proc in racers:  # both go at once
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = {proc.pid: proc.communicate(timeout=60)[0].strip() for proc in racers}
    winners = [pid for pid, text in results.items() if text == "won"]
    assert len(winners) == 1, results
    loser = next(text for text in results.values() if text != "won")
    assert loser.startswith("refused ") and f"being written by pid {winners[0]}" in loser, results
    assert "_run.lock" in loser
    assert s3_server.keys(out) == []  # the winner released its lease


def test_eight_takers_of_a_lapsed_lease_leave_exactly_one_winner(out):
    where = layout.lock_path(out)
    dead = lease.Lease(where, "being written", duration_s=SHORT_S)
    dead.take()  # and never renewed: its holder is gone
    deadline = time.monotonic() + 20
    while not lease.read(where).stale:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    takers = [lease.Lease(where, "being written", duration_s=30) for _ in range(8)]
    start = threading.Barrier(len(takers))
    outcomes: list[object] = [None] * len(takers)

    def take(i: int) -> None:
        start.wait()
        try:
            takers[i].take()
            outcomes[i] = "won"
        except lease.LeaseHeld as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=take, args=(i,)) for i in range(len(takers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    winners = [i for i, outcome in enumerate(outcomes) if outcome == "won"]
    assert len(winners) == 1, outcomes
    refusals = [o for o in outcomes if isinstance(o, lease.LeaseHeld)]
    assert len(refusals) == 7 and all("being written by pid" in str(r) for r in refusals), outcomes
    assert lease.read(where).etag == takers[winners[0]].etag  # the lease is the winner's write


def test_release_deletes_the_lease_and_it_is_taken_again_at_once(out):
    with run_lock(out):
        assert s3_server.keys(out) == ["_run.lock"]
        body = json.loads(layout.lock_path(out).read_text())
        assert body["doing"] == "being written" and body["pid"] > 0 and body["expires"]
    assert s3_server.keys(out) == []
    started = time.monotonic()
    with run_lock(out):  # no waiting for a lapse
        assert s3_server.keys(out) == ["_run.lock"]
    assert time.monotonic() - started < SHORT_S + lease.LEASE_S / 2


def test_heartbeat_keeps_the_lease_past_its_duration(out, short_lease):
    with run_lock(out):
        first = lease.read(layout.lock_path(out)).etag
        time.sleep(3.5 * SHORT_S)  # past the lease and the store's rounding: only renewal keeps it
        seen = lease.read(layout.lock_path(out))
        assert seen.etag != first and not seen.stale
        with pytest.raises(lease.LeaseHeld, match="being written by pid"):
            lease.Lease(layout.lock_path(out), "being written").take()
        check_held(out)  # still ours


def test_a_lost_lease_makes_check_held_raise_naming_the_new_holder(out, short_lease):
    with run_lock(out):
        check_held(out)
        other = {"doing": "being written", "pid": 99999, "host": "node-7", "started": "2026-01-01T00:00:00Z"}
        s3_server.client().put_object(  # another process took it over (this one stalled past its lease)
            Bucket=out.removeprefix("s3://").split("/")[0], Key="run/_run.lock", Body=json.dumps(other)
        )
        with pytest.raises(RunLocked, match="lease lost, now being written by pid 99999 on node-7"):
            check_held(out)
        with pytest.raises(RunLocked):  # and stays lost
            check_held(out)
    assert json.loads(layout.lock_path(out).read_text())["pid"] == 99999  # not deleted: not ours


def test_shared_readers_coexist_and_block_a_writer_and_a_writer_blocks_readers(out, short_lease):
    reader = _hold(out, "shared", lease_s=SHORT_S)
    try:
        with run_lock(out, shared=True):  # a second reader of the same shards
            assert len(s3_server.keys(f"{out}/_run.readers")) == 2
            with pytest.raises(RunLocked, match=f"being read by pid ({reader.pid}|{os.getpid()})"):
                with run_lock(out):
                    pass
        time.sleep(3.5 * SHORT_S)  # the reader's heartbeat keeps its lease live
        with pytest.raises(RunLocked, match=f"being read by pid {reader.pid}"):
            with run_lock(out):
                pass
    finally:
        _kill(reader)
    _take_when_lapsed(out)  # the killed reader's lease lapses, and the writer removes it
    assert s3_server.keys(out) == []
    writer = _hold(out, "exclusive")
    try:
        with pytest.raises(RunLocked, match=f"being written by pid {writer.pid}"):
            with run_lock(out, shared=True):
                pass
        assert s3_server.keys(f"{out}/_run.readers") == []  # the refused reader removed its lease
    finally:
        _kill(writer)


def test_a_killed_holder_leaves_a_lease_taken_over_after_it_lapses(out):
    holder = _hold(out, "exclusive", lease_s=SHORT_S)
    _kill(holder)
    killed = time.monotonic()
    with pytest.raises(RunLocked, match=f"being written by pid {holder.pid}"):
        with run_lock(out):
            pass
    _take_when_lapsed(out)
    assert time.monotonic() - killed >= SHORT_S / 2  # not before the lease lapsed (renewed every third)
    assert s3_server.keys(out) == []


def test_a_stage_on_a_locked_s3_out_is_refused_before_spark_naming_the_holder(out):
    holder = _hold(out, "exclusive", lease_s=30)
    try:
        started = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "jobs", "filter", "--output", out],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=REPO,
        )
        assert proc.returncode == 1
        last = proc.stderr.strip().splitlines()[-1]
        assert last.startswith("FAILED: ") and f"being written by pid {holder.pid}" in last, proc.stderr
        assert "lease renewed to" in last and f"{out}/_run.lock" in last
        assert time.monotonic() - started < 60  # at once, before Spark
        assert s3_server.keys(out) == ["_run.lock"]  # the refused job wrote nothing
    finally:
        _kill(holder)


def test_a_renewal_whose_reply_was_lost_is_adopted_not_taken_for_a_lost_lease(out):
    mine = lease.Lease(layout.lock_path(out), "being written")
    mine.take()
    bucket, _, key = mine.where.key.partition("/")
    # The store applied one of this lease's writes but the reply never arrived (a timeout): the ETag it
    # holds is not the one the lease knows.
    s3_server.client().put_object(Bucket=bucket, Key=key, Body=mine._body())
    mine.verify()  # its own write: adopted, then renewed
    assert lease.read(mine.where).etag == mine.etag
    mine.release()
    assert s3_server.keys(out) == []


STALL = (
    "import sys\nfrom pipeline import lease\nlease.LEASE_S = float(sys.argv[2])\n"
    "from pipeline.runlock import RunLocked, check_held, run_lock\n"
    "with run_lock(sys.argv[1]):\n    print('held', flush=True); sys.stdin.readline()\n"
    "    try:\n        check_held(sys.argv[1]); print('still held', flush=True)\n"
    "    except RunLocked as exc:\n        print('lost', exc, flush=True)"
)


def test_a_stalled_holder_whose_lease_was_taken_over_stops_before_publishing(out):
    holder = subprocess.Popen(
        [sys.executable, "-c", STALL, out, str(SHORT_S)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        holder.send_signal(signal.SIGSTOP)  # a stall (a long GC pause, a frozen VM): no heartbeat
        deadline = time.monotonic() + 20
        while True:
            try:
                with run_lock(out):
                    holder.send_signal(signal.SIGCONT)
                    holder.stdin.write("publish?\n")
                    holder.stdin.flush()
                    answer = holder.stdout.readline().strip()
                    assert answer.startswith("lost ") and f"being written by pid {os.getpid()}" in answer, (
                        answer
                    )
                    assert holder.wait(timeout=30) == 0
                    assert lease.read(layout.lock_path(out)).body["pid"] == os.getpid()  # left alone
                break
            except RunLocked:
                assert time.monotonic() < deadline, "the stalled holder's lease was not taken over"
                time.sleep(0.3)
    finally:
        holder.send_signal(signal.SIGCONT)
        _kill(holder)
    assert s3_server.keys(out) == []
