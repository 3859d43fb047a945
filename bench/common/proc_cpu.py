"""CPU time of a whole process tree, for the benchmarks that run each side as a subprocess.

A process's CPU time reaches its parent's RUSAGE_CHILDREN only when the parent waits for it. The
caller becomes a child subreaper, so orphaned descendants (a JVM whose driver exited, Spark's Python
daemon) are re-parented to it and reaped here. Spark's Python workers are the exception: their daemon
sets SIGCHLD to SIG_IGN, so the kernel reaps them and their CPU time reaches nobody; it is sampled
from /proc while they run.
"""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path


def become_subreaper() -> None:
    """Orphaned descendants (the JVM, Spark's Python daemon) get re-parented to us, so we reap them
    and their CPU time lands in our RUSAGE_CHILDREN."""
    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _reap_orphans(deadline_s: float = 60.0) -> None:
    end = time.monotonic() + deadline_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if time.monotonic() > end:  # a leftover of the measured command: end it by its pid
                for child in _child_pids():
                    os.kill(child, 15)
                end = time.monotonic() + 10
            time.sleep(0.05)


def _child_pids() -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid():
            pids.append(int(stat.parent.name))
    return pids


def _spark_worker_cpu(root: int) -> dict[int, float]:
    """CPU seconds so far of each live Spark Python worker (a fork of a `pyspark.daemon`) that
    descends from process `root` (other users' Spark jobs on a shared machine are not ours).

    The daemon sets SIGCHLD to SIG_IGN, so the kernel reaps its workers without adding their CPU time
    to any parent's RUSAGE_CHILDREN; we read it from /proc while they run instead."""
    tick = os.sysconf("SC_CLK_TCK")
    parents, cpu, daemons = {}, {}, set()
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            pid = int(proc.name)
            parents[pid] = int(fields[1])
            cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
            if b"pyspark.daemon" in (proc / "cmdline").read_bytes():
                daemons.add(pid)
        except (OSError, ValueError, IndexError):
            continue

    def descends(pid: int) -> bool:
        while pid > 1:
            if pid == root:
                return True
            pid = parents.get(pid, 0)
        return False

    return {pid: cpu[pid] for pid, ppid in parents.items() if ppid in daemons and descends(ppid)}


def run_measured(
    cmd: list[str], env: dict | None = None, cwd: Path | None = None, sample_every_s: float = 0.05
) -> dict:
    """Run a command; its wall time and the CPU time of its whole process tree (reaped descendants
    via RUSAGE_CHILDREN, plus Spark's Python workers sampled from /proc every `sample_every_s`).
    Each sample walks /proc: every 50 ms that is ~9 % of a core, harmless while the command is pinned
    to other cores, not when it uses them all (sample less often then; workers are reused, so a
    longer interval loses at most its length of each worker's last CPU)."""
    cpu0, wall0 = _children_cpu(), time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )
    # Drain the pipes in threads so a chatty child never blocks on a full pipe while we poll /proc.
    captured = {"stdout": "", "stderr": ""}

    def drain(name: str) -> None:
        captured[name] = getattr(proc, name).read()

    readers = [threading.Thread(target=drain, args=(n,)) for n in captured]
    for reader in readers:
        reader.start()
    workers: dict[int, float] = {}
    while proc.poll() is None:
        workers.update(_spark_worker_cpu(proc.pid))
        time.sleep(sample_every_s)
    wall = time.perf_counter() - wall0
    for reader in readers:
        reader.join()
    _reap_orphans()
    if proc.returncode:
        sys.exit(
            f"failed ({proc.returncode}): {' '.join(cmd)}\n{captured['stdout'][-2000:]}\n{captured['stderr'][-4000:]}"
        )
    cpu = _children_cpu() - cpu0 + sum(workers.values())
    return {"wall_s": wall, "cpu_s": cpu, "spark_worker_cpu_s": sum(workers.values()), **captured}


def measured(work):
    """(what `work()` returns, its wall seconds, the CPU seconds of this process and of the children it
    reaped meanwhile, e.g. an extractor's sandbox processes): a side timed inside its own process."""
    usage = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    result = work()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = sum(a.ru_utime + a.ru_stime - (b.ru_utime + b.ru_stime) for a, b in zip(after, usage))
    return result, wall, cpu
