"""One writer per run folder: an exclusive lock on `OUT/_run.lock` held for as long as a job runs.

Two jobs writing the same OUT (a nightly job resubmitted while the first still runs) would mix their
part files and both report success. The lock is a POSIX `flock` on the lock file: the kernel drops it
when the holder dies however it dies (SIGKILL included), so a lock left by a dead process is stale by
construction and the next run takes it at once. The file's text names the holder (host, pid, start
time) so the refusal can say who holds it. `flock` works on local disks and on NFSv4/Lustre mounts
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

# Locks this process holds, by lock path: nested `run_lock` calls (a CLI command around the chain
# around each stage) share one lock instead of blocking on themselves.
_HELD: dict[str, int] = {}


class RunLocked(RuntimeError):
    """Another live process is writing this OUT; the message names it."""


def _holder_text() -> str:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"pid {os.getpid()} on {socket.gethostname()} since {started}\n"


@contextlib.contextmanager
def run_lock(out: str | Path) -> Iterator[None]:
    """Hold the run lock of `out` inside the block; raise RunLocked at once if another process has it."""
    path = layout.lock_path(out)
    key = str(path.resolve())
    if key in _HELD:  # this process already holds it
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        holder = path.read_text(errors="replace").strip() or "another process"
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise RunLocked(
                f"{out} is being written by {holder} (lock {path}); wait for it or pick another --output"
            ) from None
        log.warning("run lock unavailable on this file system (%s): running without it", exc)
        yield
        return
    os.ftruncate(fd, 0)
    os.write(fd, _holder_text().encode())
    _HELD[key] = fd
    try:
        yield
    finally:
        del _HELD[key]
        os.ftruncate(fd, 0)  # the lock is released with the descriptor; the empty file is harmless
        os.close(fd)
