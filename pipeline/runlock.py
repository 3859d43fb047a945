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

On an object store (OUT is `s3://...`) there is no `flock`: the lock is a lease object at the same path
(pipeline/lease.py), renewed by a heartbeat while held and taken over once its holder lets it lapse
(a killed holder keeps the next run out for at most `lease.LEASE_S`). A training reading shards
writes its own lease under `OUT/_run.readers/`; a writer is refused while a live reader lease exists,
a reader while a live writer lease exists. Each writes its own lease first and then looks for the other
kind, so of a writer and a reader arriving together at least one sees the other; both may, and then
both are refused (the race accepted: nobody proceeds wrongly, one of them retries). Unlike a flock, a
lease can be lost (its holder cut off from the store for a lease duration): `check_held(out)`, called
before a stage is published, raises RunLocked then.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

from pipeline import layout, lease, storage
from pipeline.storage import ObjectPath

log = logging.getLogger(__name__)

# Locks this process holds, by lock path, and whether shared: nested calls (a CLI command around the chain
# around each stage) share one lock instead of blocking on themselves.
_HELD: dict[str, tuple[int, bool]] = {}
_LEASES: dict[str, tuple[lease.Lease, bool]] = {}  # the same on object stores: the lease held, whether shared


class RunLocked(RuntimeError):
    """Another live process is writing this OUT (or reading it, when a writer asks); the message names it."""


def _holder_text(doing: str) -> str:
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return lease.holder_line(doing, os.getpid(), socket.gethostname(), started) + "\n"


def _refusal(what: str | Path, holder: str, lock: object, pick: str) -> RunLocked:
    return RunLocked(f"{what} is {holder} (lock {lock}); wait for it or pick {pick}")


@contextlib.contextmanager
def run_lock(out: str | Path, *, shared: bool = False) -> Iterator[None]:
    """Hold the run lock of `out` inside the block; raise RunLocked at once if another process has it.
    Exclusive for a writer of OUT (a stage); `shared` for a reader of OUT/shards (a training), so several
    trainings may read one run's shards while no stage rewrites them."""
    pick = "another --output"
    if storage.is_remote(out):
        lock = _lease_lock(
            layout.lock_path(out), out, shared=shared, readers=layout.lock_readers_path(out), pick=pick
        )
    else:
        lock = _flock(layout.lock_path(out), out, shared=shared, pick=pick)
    with lock:
        yield


@contextlib.contextmanager
def folder_lock(folder: str | Path, pick: str) -> Iterator[None]:
    """Hold the exclusive lock of one output folder inside OUT (a training's OUT/train) for the block."""
    path = layout.folder_lock_path(folder)
    remote = storage.is_remote(folder)
    with (
        _lease_lock(path, folder, shared=False, readers=None, pick=pick)
        if remote
        else _flock(path, folder, shared=False, pick=pick)
    ):
        yield


def check_held(out: str | Path) -> None:
    """Raise RunLocked if this process held OUT's lease and lost it: called right before a stage is
    published (its `_SUCCESS` written). It renews the lease on the way, so the publish that follows has a
    full lease duration. A flock cannot be lost while its holder lives, and a process holding no lock on
    OUT has nothing to check: both return at once."""
    held = _LEASES.get(str(layout.lock_path(out))) if storage.is_remote(out) else None
    if held is None:
        return
    try:
        held[0].verify()
    except lease.LeaseLost as exc:
        raise RunLocked(f"{out}: {exc}; this run stops without publishing") from None


@contextlib.contextmanager
def _lease_lock(
    path: ObjectPath, what: str | Path, *, shared: bool, readers: ObjectPath | None, pick: str
) -> Iterator[None]:
    key = str(path)
    if key in _LEASES and (shared or not _LEASES[key][1]):  # this process already holds it (strongly enough)
        yield
        return
    if not lease.supported(path):
        log.warning(
            "run lock unavailable on %s:// (leases need S3's conditional requests): running without it",
            path.scheme,
        )
        yield
        return
    if shared:
        mine = lease.Lease(
            readers / f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}", "being read"
        )
        mine.create()
    else:
        mine = lease.Lease(path, "being written")
        try:
            mine.take()
        except lease.LeaseHeld as exc:
            raise _refusal(what, str(exc), path, pick) from None
    try:  # then look for the other kind: a reader for a live writer, a writer for live readers
        if shared:
            live = _live([(path, lease.read(path))])
        else:
            live = _live(lease.leases_under(readers)) if readers is not None else None
    except BaseException:
        mine.release()
        raise
    if live is not None:
        mine.release()
        raise _refusal(what, live[1].describe(), live[0], pick)
    mine.start()
    _LEASES[key] = (mine, shared)
    try:
        yield
    finally:
        del _LEASES[key]
        mine.release()


def _live(found: list[tuple[ObjectPath, lease.Seen | None]]) -> tuple[ObjectPath, lease.Seen] | None:
    """The first live lease among those read; lapsed ones are removed on the way (their holders, if only
    stalled, then find their lease lost instead of renewing it)."""
    for where, seen in found:
        if seen is not None and seen.stale:
            lease.remove_lapsed(where, seen)
        elif seen is not None:
            return where, seen
    return None


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
