"""Leases on an object store: the run lock where there is no `flock` (used by pipeline/runlock.py).

A lease is one small object whose body names its holder (host, pid, start, duration, expiry). The store's
conditional requests make every step safe against any number of racing contenders:

- **take**: PUT with `If-None-Match: *`. The store creates the object for exactly one of them; the others
  get 412 and read who holds it.
- **renew**: a heartbeat thread rewrites the body every third of the lease with `If-Match: <the ETag of
  our last write>`. A 412 or 404 means someone took the lease over (or removed it): it is lost, and
  `verify` (called before publishing) raises.
- **stale**: a lease not renewed within its duration is taken over with PUT `If-Match: <the ETag seen>`,
  so of several contenders exactly one wins. Age is measured on the store's clock (the response's `Date`
  against the object's `Last-Modified`), so the hosts' clocks need not agree.
- **release**: re-read (is it still ours?), then DELETE with `If-Match`. A store that rejects conditional
  deletes gets a plain DELETE after the re-read; the window between the two is the accepted race there.

pyarrow cannot send conditional headers, so leases speak S3 through boto3 (credentials from the usual AWS
chain, the endpoint from `AWS_ENDPOINT_URL`, as for pyarrow).
"""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass

from pipeline import storage
from pipeline.storage import ObjectPath, StorageError

log = logging.getLogger(__name__)

# How long a lease lives without renewal. It bounds how long a killed holder (a driver lost with its
# node) keeps the next run out, and how long a holder may fail to reach the store before it loses the
# lease. Not a run setting: the lock is taken before a run's config is read (and by the trainer, which
# reads another config). Contenders judge a lease by the duration written in it, not by their own.
LEASE_S = 60.0
BEATS_PER_LEASE = 3  # renewals per lease duration: two may fail (a store hiccup) before the lease lapses
# Per request: well under a heartbeat interval, so a hung connection cannot outlast the lease.
CONNECT_TIMEOUT_S = 5
READ_TIMEOUT_S = 10
CLOCK_STEP_S = 1.0  # Date and Last-Modified have whole seconds: a lease is stale only past a full extra one

CONFLICT_CODES = {"PreconditionFailed", "ConditionalRequestConflict", "NoSuchKey", "412", "409", "404"}
UNSUPPORTED_CODES = {"NotImplemented", "501", "InvalidArgument"}


class LeaseHeld(RuntimeError):
    """Someone else holds the lease; the message names them."""


class LeaseLost(RuntimeError):
    """This process held the lease and no longer does; the message says who took it (or why)."""


def holder_line(doing: str, pid: int, host: str, started: str) -> str:
    """How a lock names its holder, the same for a flock file and a lease object."""
    return f"{doing} by pid {pid} on {host} since {started}"


def _utc_text(moment: float) -> str:
    return datetime.datetime.fromtimestamp(moment, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


@functools.cache
def _client():
    """One S3 client per process (boto3 clients are thread-safe; the heartbeat threads share it)."""
    import boto3
    from botocore.config import Config

    # boto3 logs where it found credentials at INFO, on every run: noise under the jobs' INFO logging.
    logging.getLogger("botocore.credentials").setLevel(logging.WARNING)
    config = Config(
        connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S, retries={"max_attempts": 3}
    )
    return boto3.client("s3", endpoint_url=os.environ.get(storage.ENDPOINT_ENV), config=config)


def supported(where: ObjectPath) -> bool:
    """Leases need S3's conditional requests; `gs://` has its own (generation numbers), not used here."""
    return where.scheme == "s3"


def _code(exc: Exception) -> str:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


@dataclass(frozen=True)
class Seen:
    """A lease object as read: its ETag, its body, and whether its holder let it lapse."""

    etag: str
    body: dict
    stale: bool

    def describe(self) -> str:
        b = self.body
        if not {"doing", "pid", "host", "started"} <= b.keys():
            return "held by an unknown process (unreadable lease)"
        line = holder_line(b["doing"], b["pid"], b["host"], b["started"])
        return f"{line}, lease renewed to {b['expires']}" if "expires" in b else line


class Lease:
    """One lease object at `where`, for this process: `take` or `create`, then `start` the heartbeat,
    `verify` before publishing, `release` at the end."""

    def __init__(self, where: ObjectPath, doing: str, duration_s: float | None = None):
        self.where = where
        self.bucket, _, self.key = where.key.partition("/")
        self.doing = doing
        self.duration_s = LEASE_S if duration_s is None else duration_s
        self.started = _utc_text(time.time())
        self.token = uuid.uuid4().hex  # tells this lease's own writes from anyone else's
        self.etag: str | None = None
        self.lost: str | None = None  # why, once lost
        self._beats = 0
        self._renewed = 0.0  # monotonic time of the last successful write
        self._mutex = threading.Lock()  # the heartbeat and `verify` both rewrite the ETag
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- requests ------------------------------------------------------------------------------------
    def _body(self) -> bytes:
        now = time.time()
        body = {
            "doing": self.doing,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": self.started,
            "lease_s": self.duration_s,
            "renewed": _utc_text(now),
            "expires": _utc_text(now + self.duration_s),
            "token": self.token,
            "beat": self._beats,  # every write differs, so every write gets a new ETag
        }
        self._beats += 1
        return (json.dumps(body) + "\n").encode()

    def _put(self, **condition: str) -> str:
        reply = _client().put_object(Bucket=self.bucket, Key=self.key, Body=self._body(), **condition)
        self._renewed = time.monotonic()
        return reply["ETag"]

    def read(self) -> Seen | None:
        return read(self.where)

    # --- taking --------------------------------------------------------------------------------------
    def create(self) -> None:
        """Write a lease at a key nobody else uses (a reader's own lease); fails if it exists."""
        try:
            self.etag = self._put(IfNoneMatch="*")
        except Exception as exc:
            raise StorageError(f"{self.where}: cannot write the lease: {_one_line(exc)}") from exc

    def take(self) -> None:
        """Take the lease, or take over a lapsed one; raise LeaseHeld naming a live holder. Each retry
        follows a change made by another contender, so the loop ends once the contenders have acted."""
        seen = None
        for _ in range(16):
            try:
                self.etag = self._put(IfNoneMatch="*")
                return
            except Exception as exc:
                self._raise_unless_conflict(exc)
            seen = self.read()
            if seen is None:
                continue  # released in between: try to create it again
            if self._ours(seen):
                return
            if not seen.stale:
                raise LeaseHeld(seen.describe())
            try:
                self.etag = self._put(IfMatch=seen.etag)
                log.warning("%s: took over a lapsed lease (%s)", self.where, seen.describe())
                return
            except Exception as exc:
                self._raise_unless_conflict(exc)  # another contender took it over first: look again
        raise LeaseHeld(seen.describe() if seen else "contended by other processes")

    def _ours(self, seen: Seen) -> bool:
        """Whether the object is this lease's own write whose reply was lost (a timeout, then the SDK's
        retry met its own first attempt): adopt its ETag instead of calling the lease lost."""
        if seen.body.get("token") != self.token:
            return False
        self.etag = seen.etag
        self._renewed = time.monotonic()
        return True

    def _raise_unless_conflict(self, exc: Exception) -> None:
        if _code(exc) not in CONFLICT_CODES:
            raise StorageError(f"{self.where}: cannot take the lease: {_one_line(exc)}") from exc

    # --- holding -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Renew in a daemon thread until `release` (or until the lease is found lost)."""
        self._thread = threading.Thread(target=self._heartbeat, name=f"lease {self.where}", daemon=True)
        self._thread.start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.duration_s / BEATS_PER_LEASE):
            try:
                self.renew()
            except LeaseLost as exc:
                log.error("%s", exc)
                return
            except StorageError as exc:  # the store is unreachable: retry on the next beat
                log.warning("%s", exc)

    def renew(self) -> None:
        """Extend the lease by a full duration from now; raise LeaseLost if it is no longer ours."""
        with self._mutex:
            if self.lost:
                raise LeaseLost(self.lost)
            for _ in range(2):  # a second time only after adopting our own write
                try:
                    self.etag = self._put(IfMatch=self.etag)
                    return
                except Exception as exc:
                    if _code(exc) not in CONFLICT_CODES:
                        self._raise_unless_lapsed(exc)
                    seen = self.read()
                    if seen is None or not self._ours(seen):
                        self.lost = f"{self.where}: lease lost, now {seen.describe() if seen else 'removed'}"
                        raise LeaseLost(self.lost) from None
            self.lost = f"{self.where}: lease cannot be renewed (its ETag keeps changing)"
            raise LeaseLost(self.lost)

    def _raise_unless_lapsed(self, exc: Exception) -> None:
        """A failed renewal that was no conflict (the store unreachable): retried at the next beat,
        unless the lease has lapsed meanwhile (then another process may hold it)."""
        if time.monotonic() - self._renewed > self.duration_s:
            self.lost = f"{self.where}: lease lapsed, not renewed for {self.duration_s:.0f} s"
            raise LeaseLost(self.lost) from None
        raise StorageError(f"{self.where}: cannot renew the lease: {_one_line(exc)}") from exc

    def verify(self) -> None:
        """Before publishing: renew now, so the lease is ours and has a full duration left; raise
        LeaseLost otherwise (an unreachable store counts: the lease cannot be confirmed)."""
        try:
            self.renew()
        except StorageError as exc:
            raise LeaseLost(f"{self.where}: cannot confirm the lease: {exc}") from None

    def release(self) -> None:
        """Stop renewing and delete the lease if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        with self._mutex:
            if self.lost or self.etag is None:
                return
            try:
                seen = self.read()
                if seen is None or seen.etag != self.etag:
                    log.warning("%s: lease was no longer ours at release", self.where)
                    return
                self._delete(self.etag)
            except Exception as exc:  # the lease lapses on its own
                log.warning(
                    "%s: cannot release the lease (it lapses in %.0f s): %s", self.where, self.duration_s, exc
                )
            self.etag = None

    def _delete(self, etag: str) -> None:
        try:
            _client().delete_object(Bucket=self.bucket, Key=self.key, IfMatch=etag)
        except Exception as exc:
            code = _code(exc)
            if code in CONFLICT_CODES:
                return  # taken over between the re-read and the delete: not ours to delete
            if code not in UNSUPPORTED_CODES:
                raise
            log.info("%s: the store rejects conditional deletes; deleting after the re-read", self.where)
            _client().delete_object(Bucket=self.bucket, Key=self.key)


def read(where: ObjectPath) -> Seen | None:
    """A lease object as it is now, or None when there is none."""
    bucket, _, key = where.key.partition("/")
    try:
        reply = _client().get_object(Bucket=bucket, Key=key)
        raw = reply["Body"].read()
    except Exception as exc:
        if _code(exc) in ("NoSuchKey", "404"):
            return None
        raise StorageError(f"{where}: cannot read the lease: {_one_line(exc)}") from exc
    try:
        body = json.loads(raw)
        body = body if isinstance(body, dict) else {}
    except ValueError:
        body = {}
    return Seen(reply["ETag"], body, _lapsed(reply, body))


def remove_lapsed(where: ObjectPath, seen: Seen) -> None:
    """Delete a lapsed lease of another process if it is unchanged since read (If-Match), so that its
    holder, if it is only stalled, finds it lost at its next renewal instead of renewing it."""
    bucket, _, key = where.key.partition("/")
    try:
        _client().delete_object(Bucket=bucket, Key=key, IfMatch=seen.etag)
    except Exception as exc:
        if _code(exc) not in CONFLICT_CODES:
            log.warning("%s: cannot remove a lapsed lease: %s", where, _one_line(exc))


def leases_under(prefix: ObjectPath) -> list[tuple[ObjectPath, Seen]]:
    """Every lease object under a prefix (the readers of a run), as read now."""
    bucket, _, key = prefix.key.partition("/")
    found = []
    try:
        pages = _client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key + "/")
        for page in pages:
            for item in page.get("Contents", []):
                where = ObjectPath(prefix.scheme, f"{bucket}/{item['Key']}")
                seen = read(where)
                if seen is not None:
                    found.append((where, seen))
    except StorageError:
        raise
    except Exception as exc:
        raise StorageError(f"{prefix}: cannot list the leases: {_one_line(exc)}") from exc
    return found


def _lapsed(reply: dict, body: dict) -> bool:
    """Whether the holder let the lease lapse, on the store's clock: the time of this response against
    the object's last write, beyond the duration the holder wrote in it."""
    duration = body.get("lease_s", LEASE_S)
    if not isinstance(duration, (int, float)):
        duration = LEASE_S
    date = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
    now = email.utils.parsedate_to_datetime(date) if date else datetime.datetime.now(datetime.timezone.utc)
    age = (now - reply["LastModified"]).total_seconds()
    return age >= duration + CLOCK_STEP_S
