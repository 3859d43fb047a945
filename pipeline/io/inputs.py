"""What an input spec names: the files behind a path, a folder, a glob or an object-store URI.

Extract (WARC/ARC files) and import (JSONL/Parquet corpora) resolve their `--input` values the same
way, on local disk and on object stores (`s3://bucket/prefix/`, `s3://bucket/crawl/*.warc.gz`):

- an existing file is taken whatever its name;
- a folder (on a store: a prefix with objects under it) gives every file below it whose name ends in
  one of the stage's suffixes, so WET/WAT files and other debris are left out;
- a glob gives what it matches (`*` and `?` stay inside one folder name, `**` crosses folders); a
  folder it matches is walked as above;
- a spec that matches nothing is an error (FileNotFoundError naming it): a typo in INPUT must not
  turn into an empty run. On a store, a missing bucket, refused credentials or an unreachable
  endpoint is a one-line `StorageError` naming the URI (pipeline/io/access.py says which).

Everything here runs on the driver, before Spark starts; the tasks then open each file by its URI.
"""

from __future__ import annotations

import glob
import os

import pyarrow.fs as pafs

from pipeline import storage
from pipeline.io.access import check_bucket, storage_error

HTTP = ("http://", "https://")  # read by pipeline/io/commoncrawl.py, not by the storage layer
REMOTE_MAGIC = "*?"  # glob characters on a store (`[` is an ordinary character in object keys)
# Object URIs this process has already seen listed as files: resolving a resolved list again (the
# chain does) costs no request per file.
_LISTED: set[str] = set()


def is_object(uri: str) -> bool:
    """Does `uri` name an object on a store (`s3://…`), rather than a local path or an http(s) URL?"""
    return not str(uri).startswith(HTTP) and storage.is_remote(uri)


def expand(spec: str, suffixes: tuple[str, ...]) -> list[str]:
    """The files `spec` names, sorted (local paths as given, object-store files as URIs)."""
    found = _expand_remote(spec, suffixes) if storage.is_remote(spec) else _expand_local(spec, suffixes)
    if not found:
        raise FileNotFoundError(f"input {spec!r} matches no file")
    return found


def _expand_local(spec: str, suffixes: tuple[str, ...]) -> list[str]:
    # an existing path is taken literally, even if its name has glob characters like "["
    literal = os.path.exists(spec) or not glob.has_magic(spec)
    matches = [spec] if literal else sorted(glob.glob(spec, recursive=True))
    found: set[str] = set()
    for match in (m for m in matches if os.path.exists(m)):
        if os.path.isdir(match):
            for root, _dirs, files in os.walk(match):
                found.update(os.path.join(root, f) for f in files if f.endswith(suffixes))
        else:
            found.add(match)
    return sorted(found)


def _expand_remote(spec: str, suffixes: tuple[str, ...]) -> list[str]:
    where = storage.path(spec)
    if where.uri in _LISTED:
        return [where.uri]
    try:
        if any(char in where.key for char in REMOTE_MAGIC):
            found = _remote_glob(where, suffixes)
        elif where.is_file():
            found = [where.uri]
        else:
            found = [(where / rel).uri for rel, _, _ in storage.files_under(where) if rel.endswith(suffixes)]
    except (OSError, storage.StorageError) as exc:
        raise storage_error(where, exc) from exc
    if not found:
        check_bucket(where)  # nothing there: say so when it is the bucket itself that is missing
    _LISTED.update(found)
    return sorted(set(found))


def _remote_glob(where: storage.ObjectPath, suffixes: tuple[str, ...]) -> list[str]:
    """The files a glob matches, and the files with `suffixes` under the folders it matches: one
    listing of the folder above the first glob character, however many files match."""
    parts = where.key.split("/")
    first = next(i for i, part in enumerate(parts) if any(char in part for char in REMOTE_MAGIC))
    if first == 0:
        raise storage.StorageError(f"{where}: a bucket name cannot be a glob")
    base = storage.ObjectPath(where.scheme, "/".join(parts[:first]))
    pattern = storage.glob_regex("/".join(parts[first:]))
    found = []
    for rel, _size, _mtime in storage.files_under(base):
        if pattern.fullmatch(rel):
            found.append(base / rel)
        elif rel.endswith(suffixes) and any(pattern.fullmatch(folder) for folder in _folders_above(rel)):
            found.append(base / rel)
    return [p.uri for p in found]


def _folders_above(rel: str) -> list[str]:
    folders = []
    while "/" in rel:
        rel = rel.rsplit("/", 1)[0]
        folders.append(rel)
    return folders


def object_stats(uris: list[str]) -> dict[str, list]:
    """uri -> [[uri, size, mtime_ns], ...] for object-store files (one entry) and folders (every file
    below), from one listing per folder the files lie in: a resolved crawl of thousands of WARCs costs a
    request per thousand files, not one per file. An absent uri is left out."""
    uris = [str(storage.path(uri)) for uri in uris]  # s3a:// is s3://
    listed: dict[str, list] = {}
    for parent in sorted({storage.path(uri).parent for uri in uris}):
        selector = pafs.FileSelector(parent.key, allow_not_found=True)
        for info in parent.fs.get_file_info(selector):
            if info.type == pafs.FileType.File:
                uri = str(storage.ObjectPath(parent.scheme, info.path))
                listed[uri] = [[uri, info.size, info.mtime_ns]]
    for uri in uris:
        if uri not in listed:  # a folder: every file below it
            where = storage.path(uri)
            selector = pafs.FileSelector(where.key, recursive=True, allow_not_found=True)
            found = [i for i in where.fs.get_file_info(selector) if i.type == pafs.FileType.File]
            files = sorted([str(storage.ObjectPath(where.scheme, i.path)), i.size, i.mtime_ns] for i in found)
            if files:
                listed[uri] = files
    return listed
