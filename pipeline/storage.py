"""Where a run's files live: a local path or an object-store URI, resolved here and nowhere else.

`path(uri)` is the one entry point. A local path (`runs/demo`, `/data/run`, `file:///data/run`) stays a
`pathlib.Path`, so local runs behave exactly as they always have. An object-store URI becomes an
`ObjectPath`, which answers the same method names (`/`, `parent`, `name`, `exists`, `read_text`,
`write_bytes`, `iterdir`, `glob`, `unlink`, ...) against a pyarrow file system:

- `s3://bucket/key` (and `s3a://`, Hadoop's name for the same store, read as `s3://`): pyarrow's
  S3 file system. Credentials come from the standard AWS chain (environment, profile, instance role);
  `AWS_ENDPOINT_URL` points it at any S3-compatible store (MinIO, Ceph, R2, GCS's S3 interface).
- `gs://bucket/key`: pyarrow's GCS file system with Google's default credentials (untested here: no
  GCS endpoint is reachable from the test machine).

Code that works on both kinds uses those shared method names, or the functions below for what a
`pathlib.Path` spells differently (`fs_path` for pyarrow readers and writers, `rmtree`, `files_under`).
An `ObjectPath` has no `__fspath__`: handing one to `open()` or `os.*` fails loudly instead of creating
a local folder named `s3:`.

Object stores have no folders and no atomic rename: `mkdir` is a no-op there, a write is one PUT (the
object appears complete or not at all), and a "folder" exists when some object lies under it.
"""

from __future__ import annotations

import functools
import io
import os
import posixpath
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pyarrow.fs as pafs

# URI scheme -> the store it names. `s3a` is what Hadoop/Spark call S3; both name the same objects.
REMOTE_SCHEMES = {"s3": "s3", "s3a": "s3", "gs": "gs", "gcs": "gs"}
COPY_CHUNK_BYTES = 8 << 20  # read/write size when copying between locations
ENDPOINT_ENV = "AWS_ENDPOINT_URL"  # the S3-compatible endpoint, when not AWS itself (the AWS SDKs' name)


class StorageError(RuntimeError):
    """A storage location cannot be used (missing bucket, no credentials, unreachable endpoint, ...);
    the message is one line naming the URI."""


def scheme_of(uri: str | os.PathLike) -> str | None:
    """The store an URI names (`s3`, `gs`), or None for a local path (`file://` included)."""
    text = str(uri) if not isinstance(uri, ObjectPath) else uri.uri
    head, sep, _ = text.partition("://")
    if not sep:
        return None
    if head.lower() == "file":
        return None
    if head.lower() not in REMOTE_SCHEMES:
        raise StorageError(
            f"{text}: unknown storage scheme {head!r} (local paths, file://, s3://, s3a://, gs://)"
        )
    return REMOTE_SCHEMES[head.lower()]


def is_remote(uri: str | os.PathLike) -> bool:
    return isinstance(uri, ObjectPath) or scheme_of(uri) is not None


def path(uri: str | os.PathLike) -> Path | ObjectPath:
    """A local `Path` or an `ObjectPath` for `uri` (the one place a location string is interpreted)."""
    if isinstance(uri, (Path, ObjectPath)):
        return uri
    text = os.fspath(uri)
    if text.startswith("file://"):
        return Path(text[len("file://") :])
    scheme = scheme_of(text)
    if scheme is None:
        return Path(text)
    return ObjectPath(scheme, text.partition("://")[2])


def fs_path(location: str | os.PathLike) -> tuple[pafs.FileSystem, str]:
    """The pyarrow file system and the path inside it, for pyarrow's readers and writers
    (`pq.write_table(table, where, filesystem=fs)`, `pq.ParquetFile(where, filesystem=fs)`)."""
    p = path(location)
    if isinstance(p, ObjectPath):
        return p.fs, p.key
    return pafs.LocalFileSystem(), os.path.abspath(p)


def rmtree(location: str | os.PathLike) -> None:
    """Delete a folder and everything under it; nothing to delete is not an error."""
    fs, where = fs_path(location)
    try:
        info = fs.get_file_info(where)
        if info.type == pafs.FileType.Directory:
            fs.delete_dir(where)
        elif info.type == pafs.FileType.File:
            fs.delete_file(where)
    except FileNotFoundError:
        pass


def files_under(location: str | os.PathLike) -> list[tuple[str, int, float]]:
    """Every file under a folder as (path relative to it, size in bytes, mtime in seconds), sorted;
    a single file gives itself with relative path ''. Nothing there gives []."""
    fs, where = fs_path(location)
    info = fs.get_file_info(where)
    if info.type == pafs.FileType.File:
        return [("", info.size, _mtime(info))]
    if info.type != pafs.FileType.Directory:
        return []
    found = fs.get_file_info(pafs.FileSelector(where, recursive=True, allow_not_found=True))
    return sorted(
        (posixpath.relpath(f.path, where), f.size, _mtime(f)) for f in found if f.type == pafs.FileType.File
    )


def copy(source: str | os.PathLike, target: str | os.PathLike) -> None:
    """Copy a file, or a folder with everything under it, between any two locations (local to store
    is an upload, store to local a download); each file lands in one write."""
    files = files_under(source)
    if not files:
        raise FileNotFoundError(str(source))
    source_fs, source_root = fs_path(source)
    for relative, _, _ in files:
        destination = path(target) / relative if relative else path(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        target_fs, target_path = fs_path(destination)
        inner = posixpath.join(source_root, relative) if relative else source_root
        with (
            source_fs.open_input_stream(inner, compression=None) as reader,
            target_fs.open_output_stream(target_path, compression=None) as writer,
        ):
            shutil.copyfileobj(reader, writer, COPY_CHUNK_BYTES)


def _mtime(info: pafs.FileInfo) -> float:
    return info.mtime.timestamp() if info.mtime is not None else 0.0


@functools.cache
def _filesystem(scheme: str, bucket: str) -> pafs.FileSystem:
    """One file system per bucket and process (each worker process builds its own: they do not pickle
    credentials). S3: the endpoint from AWS_ENDPOINT_URL when set, else AWS with the bucket's region."""
    try:
        if scheme == "s3":
            endpoint = os.environ.get(ENDPOINT_ENV)
            if endpoint:
                return pafs.S3FileSystem(endpoint_override=endpoint)
            return pafs.FileSystem.from_uri(f"s3://{bucket}")[0]  # looks up the bucket's region
        return pafs.GcsFileSystem()
    except OSError as exc:
        raise StorageError(f"{scheme}://{bucket}: cannot open the store: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class ObjectPath:
    """A location in an object store, with the pathlib methods this project uses. `key` is
    `bucket/path/inside` (pyarrow's spelling); `str()` is the URI."""

    __slots__ = ("scheme", "key")

    def __init__(self, scheme: str, key: str):
        self.scheme = scheme
        self.key = posixpath.normpath(key.strip("/")) if key.strip("/") else ""
        if not self.key or self.key.startswith(".."):
            raise StorageError(f"{scheme}://{key}: an object-store URI needs a bucket")

    # --- naming --------------------------------------------------------------------------------------
    @property
    def uri(self) -> str:
        return f"{self.scheme}://{self.key}"

    @property
    def bucket(self) -> str:
        return self.key.split("/", 1)[0]

    @property
    def fs(self) -> pafs.FileSystem:
        return _filesystem(self.scheme, self.bucket)

    def __str__(self) -> str:
        return self.uri

    def __repr__(self) -> str:
        return f"ObjectPath({self.uri!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ObjectPath) and (self.scheme, self.key) == (other.scheme, other.key)

    def __hash__(self) -> int:
        return hash((self.scheme, self.key))

    def __lt__(self, other: ObjectPath) -> bool:
        return (self.scheme, self.key) < (other.scheme, other.key)

    def __truediv__(self, part: str | os.PathLike) -> ObjectPath:
        return ObjectPath(self.scheme, posixpath.join(self.key, os.fspath(part)))

    def joinpath(self, *parts: str) -> ObjectPath:
        result = self
        for part in parts:
            result = result / part
        return result

    @property
    def name(self) -> str:
        return posixpath.basename(self.key) if "/" in self.key else ""

    @property
    def suffix(self) -> str:
        return posixpath.splitext(self.name)[1]

    @property
    def stem(self) -> str:
        return posixpath.splitext(self.name)[0]

    @property
    def parent(self) -> ObjectPath:
        return ObjectPath(self.scheme, posixpath.dirname(self.key)) if "/" in self.key else self

    @property
    def parts(self) -> tuple[str, ...]:
        return (f"{self.scheme}://", *self.key.split("/"))

    def with_name(self, name: str) -> ObjectPath:
        return self.parent / name

    def with_suffix(self, suffix: str) -> ObjectPath:
        return self.parent / (self.stem + suffix)

    def relative_to(self, other: ObjectPath) -> Path:
        if not isinstance(other, ObjectPath) or other.scheme != self.scheme:
            raise ValueError(f"{self} is not under {other}")
        if self.key == other.key:
            return Path(".")
        if not self.key.startswith(other.key + "/"):
            raise ValueError(f"{self} is not under {other}")
        return Path(self.key[len(other.key) + 1 :])

    def resolve(self) -> ObjectPath:
        return self

    def absolute(self) -> ObjectPath:
        return self

    # --- what is there ---------------------------------------------------------------------------------
    def info(self) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(self.key)
        except OSError as exc:
            raise StorageError(f"{self}: {_one_line(exc)}") from exc

    def exists(self) -> bool:
        return self.info().type != pafs.FileType.NotFound

    def is_file(self) -> bool:
        return self.info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        return self.info().type == pafs.FileType.Directory

    def size_mtime(self) -> tuple[int, float]:
        """Size and last-modified time from the object's metadata (what fingerprints read)."""
        info = self.info()
        if info.type != pafs.FileType.File:
            raise FileNotFoundError(str(self))
        return info.size, _mtime(info)

    def iterdir(self) -> Iterator[ObjectPath]:
        selector = pafs.FileSelector(self.key, recursive=False, allow_not_found=True)
        for info in sorted(self.fs.get_file_info(selector), key=lambda i: i.path):
            yield ObjectPath(self.scheme, info.path)

    def glob(self, pattern: str) -> Iterator[ObjectPath]:
        """Files and folders under this one whose relative path matches `pattern` (`**` crosses
        folders, as in `pathlib`)."""
        recursive = "**" in pattern or "/" in pattern
        selector = pafs.FileSelector(self.key, recursive=recursive, allow_not_found=True)
        regex = glob_regex(pattern)
        for info in sorted(self.fs.get_file_info(selector), key=lambda i: i.path):
            if regex.fullmatch(posixpath.relpath(info.path, self.key)):
                yield ObjectPath(self.scheme, info.path)

    def rglob(self, pattern: str) -> Iterator[ObjectPath]:
        return self.glob(f"**/{pattern}")

    # --- reading and writing -------------------------------------------------------------------------
    def mkdir(self, parents: bool = False, exist_ok: bool = False) -> None:
        """Nothing to do: an object store has no folders (a key's prefix is its folder)."""

    def read_bytes(self) -> bytes:
        try:
            with self.fs.open_input_stream(self.key, compression=None) as stream:
                return stream.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise _not_found_or(self, exc) from exc

    def read_text(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self.read_bytes().decode(encoding, errors)

    def write_bytes(self, data: bytes) -> int:
        """One PUT: readers see the old object or the whole new one, never a part. Bytes are stored as
        given (pyarrow would otherwise compress a `.gz` name on the way)."""
        try:
            with self.fs.open_output_stream(self.key, compression=None) as stream:
                stream.write(data)
        except OSError as exc:
            raise StorageError(f"{self}: cannot write: {_one_line(exc)}") from exc
        return len(data)

    def write_text(self, text: str, encoding: str = "utf-8") -> int:
        return self.write_bytes(text.encode(encoding))

    def open(self, mode: str, encoding: str = "utf-8"):
        """A file object: read modes stream from the store; write modes upload on close (multipart
        for large objects)."""
        if mode in ("rb", "r"):
            stream = self.fs.open_input_file(self.key)
        elif mode in ("wb", "w"):
            stream = self.fs.open_output_stream(self.key, compression=None)
        else:
            raise ValueError(f"{self}: mode {mode!r} is not supported on an object store")
        return io.TextIOWrapper(stream, encoding=encoding) if "b" not in mode else stream

    def touch(self) -> None:
        if not self.exists():
            self.write_bytes(b"")

    def unlink(self, missing_ok: bool = False) -> None:
        try:
            self.fs.delete_file(self.key)
        except FileNotFoundError:
            if not missing_ok:
                raise


Location = Path | ObjectPath  # what `path()` returns
Where = str | os.PathLike | ObjectPath  # what `path()` takes


def _not_found_or(where: ObjectPath, exc: OSError) -> OSError:
    if "not found" in str(exc).lower() or "nosuchkey" in str(exc).lower().replace(" ", ""):
        return FileNotFoundError(str(where))
    return StorageError(f"{where}: cannot read: {_one_line(exc)}")


@functools.cache
def glob_regex(pattern: str) -> re.Pattern:
    """`pathlib`-style glob as a regex over '/'-separated relative paths: `*` and `?` stay inside one
    folder name, a `**` segment spans any number of folders."""
    pieces = []
    for segment in pattern.split("/"):
        if segment == "**":
            pieces.append("(?:[^/]+/)*")
            continue
        text = ""
        for char in segment:
            text += {"*": "[^/]*", "?": "[^/]"}.get(char, re.escape(char))
        pieces.append(text + "/")
    return re.compile("".join(pieces).removesuffix("/"))
