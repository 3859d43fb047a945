"""One writer per run folder: an exclusive lock on `OUT/_run.lock` held for as long as a job runs.

Two jobs writing the same OUT (a nightly job resubmitted while the first still runs) would mix their
part files and both report success. The lock is a POSIX `flock` on the lock file: the kernel drops it
when the holder dies however it dies (SIGKILL included), so a lock left by a dead process is stale by
construction and the next run takes it at once. The file's text names the holder (host, pid, start
time) so the refusal can say who holds it.

A training reads OUT/shards for hours and writes its own folder (OUT/train): it holds the run lock
shared (several trainings may read one run's shards, e.g. a main run and a continual run replaying
them, while no stage may rewrite them) and its folder's lock exclusively (one training per OUT/train:
they share metrics.jsonl and the checkpoint folders). `flock` works on local disks and on NFSv4/Lustre mounts
with lock support; on a file system without locking the lock is a no-op and says so in the log.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import socket
from collections.abc import Iterator
from pathlib import Path

from pipeline import layout

log = logging.getLogger(__name__)

# Locks this process holds, by lock path, and whether shared: nested calls (a CLI command around the chain
# around each stage) share one lock instead of blocking on themselves.
_HELD: dict[str, tuple[int, bool]] = {}


class RunLocked(RuntimeError):
    """Another live process is writing this OUT (or reading it, when a writer asks); the message names it."""


def _holder_text(doing: str) -> str:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{doing} by pid {os.getpid()} on {socket.gethostname()} since {started}\n"


@contextlib.contextmanager
def run_lock(out: str | Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the run lock of `out` inside the block; raise RunLocked at once if another process has it.
    Exclusive for a writer of OUT (a stage); `shared` for a reader of OUT/shards (a training), so several
    trainings may read one run's shards while no stage rewrites them."""
    with _flock(layout.lock_path(out), out, shared=shared, pick="another --output"):
        yield


@contextlib.contextmanager
def folder_lock(folder: str | Path, pick: str) -> Iterator[None]:
    """Hold the exclusive lock of one output folder inside OUT (a training's OUT/train) for the block."""
    with _flock(layout.folder_lock_path(folder), folder, shared=False, pick=pick):
        yield


@contextlib.contextmanager
def _flock(path: Path, what: str | Path, *, shared: bool, pick: str) -> Iterator[None]:
    key = str(path.resolve())
    if key in _HELD and (shared or not _HELD[key][1]):  # this process already holds it (strongly enough)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        alone = _try_flock(fd, fcntl.LOCK_EX)  # no other holder: any text left is stale (a killed reader's)
        if alone:
            os.ftruncate(fd, 0)
        if shared:  # a reader then shares it; while it converts, a writer may get it first (then refused)
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        elif not alone:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises the EWOULDBLOCK handled below
    except OSError as exc:
        holders = path.read_text(errors="replace").strip().splitlines()
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            holder = "; ".join(holders) or "in use by another process"
            raise RunLocked(f"{what} is {holder} (lock {path}); wait for it or pick {pick}") from None
        log.warning("run lock unavailable on this file system (%s): running without it", exc)
        yield
        return
    mine = _holder_text("being read" if shared else "being written")
    os.write(fd, mine.encode())  # readers append one line each, and remove it when done
    _HELD[key] = (fd, shared)
    try:
        yield
    finally:
        del _HELD[key]
        others = [line for line in path.read_text(errors="replace").splitlines(True) if line != mine]
        os.ftruncate(fd, 0)
        os.write(fd, "".join(others if shared else []).encode())
        os.close(fd)  # the lock is released with the descriptor; an empty file is harmless


def _try_flock(fd: int, operation: int) -> bool:
    try:
        fcntl.flock(fd, operation | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
