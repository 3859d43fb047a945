"""Can this run use its object-store locations? One-line answers before Spark starts.

A run whose OUT or INPUT lies on an object store fails before the first Spark task when the bucket
does not exist, the credentials are refused, OUT cannot be written, or the endpoint does not answer:
each is one line naming the URI and what to check, instead of a task failure minutes later or an
empty listing that reads as "no input files". pyarrow reports S3 failures as OSError text carrying
the AWS SDK's error name (`AWS Error ACCESS_DENIED during HeadBucket operation: …`); `storage_error`
turns that into the line a user reads.
"""

from __future__ import annotations

import os
import re
import uuid

import pyarrow.fs as pafs

from pipeline import layout, storage

_AWS_ERROR = re.compile(r"AWS Error (\w+)")
DENIED = {  # the credentials are wrong, expired or not allowed to do this
    "ACCESS_DENIED",
    "INVALID_ACCESS_KEY_ID",
    "SIGNATURE_DOES_NOT_MATCH",
    "INVALID_CLIENT_TOKEN_ID",
    "MISSING_AUTHENTICATION_TOKEN",
    "EXPIRED_TOKEN",
    "INVALID_SIGNATURE",
}
UNREACHABLE = {"NETWORK_CONNECTION", "REQUEST_TIMEOUT", "SERVICE_UNAVAILABLE"}
CREDENTIALS = "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE"


def endpoint() -> str:
    """Where S3 requests go, in words for a message."""
    return os.environ.get(storage.ENDPOINT_ENV) or "AWS (no AWS_ENDPOINT_URL set)"


def aws_error(exc: BaseException) -> str | None:
    """The AWS SDK error name in a pyarrow S3 error (`ACCESS_DENIED`, `NETWORK_CONNECTION`, ...)."""
    match = _AWS_ERROR.search(str(exc))
    return match.group(1) if match else None


def storage_error(uri: object, exc: BaseException, doing: str = "cannot read") -> storage.StorageError:
    """The one line for a failed request on `uri`: unreachable endpoint, refused credentials, missing
    bucket, or (anything else) the store's own words."""
    name = aws_error(exc)
    detail = " ".join(str(exc).split())
    if name in UNREACHABLE or "curlCode" in detail:
        return storage.StorageError(
            f"{uri}: cannot reach the object store at {endpoint()} ({name or 'no answer'}); "
            f"check {storage.ENDPOINT_ENV} and the network"
        )
    if name in DENIED:
        return storage.StorageError(
            f"{uri}: {doing}: access denied ({name}); check the credentials ({CREDENTIALS}) "
            "and what they are allowed to do there"
        )
    if name == "NO_SUCH_BUCKET":
        return storage.StorageError(f"{uri}: the bucket does not exist at {endpoint()}")
    if isinstance(exc, storage.StorageError):
        return exc
    return storage.StorageError(f"{uri}: {doing}: {detail}")


def check_bucket(where: storage.ObjectPath) -> None:
    """Raise a one-line StorageError when `where`'s bucket is missing or cannot be asked about."""
    try:
        info = where.fs.get_file_info(where.bucket)
    except OSError as exc:
        raise storage_error(where, exc) from exc
    if info.type == pafs.FileType.NotFound:
        raise storage.StorageError(f"{where}: the bucket {where.bucket!r} does not exist at {endpoint()}")


def check_writable(out: str | os.PathLike) -> None:
    """On an object store: the bucket of OUT exists and a small object can be written and deleted
    under OUT (in its scratch folder), so a read-only prefix fails now, not at the first publish.
    Local OUT folders are checked where they are created."""
    if not storage.is_remote(out):
        return
    where = storage.path(out)
    check_bucket(where)
    probe = layout.work_root(out) / f"write-probe-{uuid.uuid4().hex}"
    fs, key = storage.fs_path(probe)
    try:
        with fs.open_output_stream(key) as stream:
            stream.write(b"probe")
    except OSError as exc:
        raise storage_error(out, exc, doing="cannot write under it") from exc
    try:
        fs.delete_file(key)
    except OSError as exc:
        raise storage_error(out, exc, doing=f"cannot delete {probe} under it") from exc
