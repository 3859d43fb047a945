"""A stage's `_SUCCESS` marker: what its output is made of, written last, and what readers read.

Committing an output needs no rename, so it works the same on local disk and on object stores:

1. task attempts write their parts straight into the stage's folders under names no other attempt
   uses (`jobs.arrow_io.part_name`: partition, task attempt, run tag), so a failed, retried or
   speculative attempt leaves a file nobody lists, and a rerun never overwrites a listed part;
2. the driver writes the stage's fixed-name tables, then the marker LAST, in one write: the stage's
   fingerprint (`pipeline.fingerprint`), a run id, and every file of the output as (path relative to
   OUT, size in bytes). Before it lands, the previous marker (if any) still lists the previous output,
   which stays readable;
3. once it has landed, files under the stage's folders that it does not list (superseded attempts,
   older outputs) are deleted (`unlisted`).

Readers go through `listed_parts`: the parts a folder's marker lists, so an orphaned or duplicated
attempt is never read. A folder without such a marker (outputs written before markers listed their
parts, a folder a user made) is read by listing its Parquet files.
"""

from __future__ import annotations

import json
import os
import posixpath
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from pipeline import layout, storage
from pipeline.storage import Location, Where

PARTS = "parts"  # the marker's list of [path relative to OUT, size]
ROOT = "root"  # the marker's path from its own folder up to OUT ("../.." for OUT/docs/<stage>)

Fingerprint = dict[str, Any] | Callable[[], dict[str, Any]]
_MADE_FROM: ContextVar[dict[str, Fingerprint] | None] = ContextVar("made_from", default=None)


@contextmanager
def recording(made_from: dict[str, Fingerprint]) -> Iterator[None]:
    """Inside this block, the marker of each named stage records its fingerprint (the chain knows it
    before the stage runs; a function is called when the marker is written, for a fingerprint that
    depends on an earlier stage's marker). A stage committed outside gets a marker without one, which
    no fingerprint matches: the chain reruns it."""
    token = _MADE_FROM.set({**(_MADE_FROM.get() or {}), **made_from})
    try:
        yield
    finally:
        _MADE_FROM.reset(token)


def fingerprint_of(stage: str) -> dict[str, Any] | None:
    """The fingerprint declared for `stage` by the enclosing `recording`, if any."""
    made = (_MADE_FROM.get() or {}).get(stage)
    return made() if callable(made) else made


def marker_payload(folder: Where, out: Where, fingerprint: dict[str, Any] | None, files: list[Where]) -> dict:
    """The marker of `folder` (a stage folder under `out`) for the output `files` (each under `out`):
    the fingerprint, a fresh run id, and each file with the size it has now."""
    out_path, marked = _absolute(storage.path(out)), _absolute(storage.path(folder))
    listing: dict[str, dict[str, int]] = {}  # folder -> its files' sizes: one LIST per folder
    parts = []
    for f in files:
        rel = _relative(_absolute(storage.path(f)), out_path)
        parent, name = posixpath.split(rel)
        if parent not in listing:
            listing[parent] = {n: size for n, size, _ in storage.files_under(out_path / parent)}
        if name not in listing[parent]:
            raise FileNotFoundError(f"{f}: a file of the output to commit is missing")
        parts.append([rel, listing[parent][name]])
    depth = len(_relative(marked, out_path).split("/"))
    return {**(fingerprint or {}), "run_id": uuid.uuid4().hex, ROOT: "/".join([".."] * depth), PARTS: parts}


def write_marker(folder: Where, payload: dict) -> None:
    """Write `folder/_SUCCESS` in one write: on an object store one PUT; on local disk a file beside
    it moved over it with `os.replace` (POSIX's one atomic write), so a reader never sees half a marker."""
    marker = storage.path(folder) / layout.SUCCESS
    text = json.dumps(payload, sort_keys=True) + "\n"
    if storage.is_remote(marker):
        marker.write_text(text)
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    staged = marker.with_name(f".{layout.SUCCESS}.tmp")
    staged.write_text(text)
    os.replace(staged, marker)


def read_marker(folder: Where) -> dict | None:
    """The marker of `folder` as written by `write_marker`; None when absent or not such a marker
    (an empty `_SUCCESS` of an older run, Spark's own empty one)."""
    try:
        data = json.loads((storage.path(folder) / layout.SUCCESS).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def listed_files(folder: Where, marker: dict) -> list[Location]:
    """Every file `marker` (the marker of `folder`) lists, as locations."""
    out = _up(storage.path(folder), marker.get(ROOT, ""))
    return [out / rel for rel, _size in marker[PARTS]]


def listed_parts(folder: Where) -> list[Location]:
    """The Parquet parts to read for an output folder (or a single Parquet file, itself).

    A stage folder with a marker listing its parts gives exactly those (a stage's rejected documents
    are listed by the marker of its kept ones); any other folder gives its `*.parquet` files by
    listing, leaving out names starting with `_` or `.` (as Spark does)."""
    where = _normal(storage.path(folder))
    if where.suffix == ".parquet" and where.is_file():
        return [where]
    marker_folder = layout.marker_folder(where)
    marker = read_marker(marker_folder)
    if marker is not None and isinstance(marker.get(PARTS), list):
        out = _up(storage.path(marker_folder), marker.get(ROOT, ""))
        prefix = _relative(where, out) + "/"
        return [
            out / rel for rel, _size in marker[PARTS] if rel.startswith(prefix) and rel.endswith(".parquet")
        ]
    return [
        where / rel
        for rel, _size, _mtime in storage.files_under(where)
        if rel.endswith(".parquet") and not any(p.startswith(("_", ".")) for p in rel.split("/"))
    ]


def unlisted(folders: list[Where], listed: list[Where]) -> list[Location]:
    """Files under `folders` that are neither listed nor a marker: what a commit leaves to delete."""
    keep = {_identity(storage.path(f)) for f in listed}
    found = []
    for folder in map(storage.path, folders):
        for rel, _size, _mtime in storage.files_under(folder):
            path = folder / rel
            if _identity(path) not in keep and path.name not in (layout.SUCCESS, f".{layout.SUCCESS}.tmp"):
                found.append(path)
    return found


def leftovers(out: Where) -> list[Location]:
    """Parts under OUT's stage folders that no marker lists: what failed or killed attempts left (the
    next commit of their stage deletes them too). A folder with a marker that lists no parts (an output
    written before markers listed them) is read by listing, so nothing in it counts as left over."""
    found: list[Location] = []
    for folder in layout.stage_folders(out):
        marker = read_marker(layout.marker_folder(folder))
        if marker is not None and isinstance(marker.get(PARTS), list):
            found += unlisted([folder], listed_files(layout.marker_folder(folder), marker))
        elif not (storage.path(layout.marker_folder(folder)) / layout.SUCCESS).exists():
            found += unlisted([folder], [])
    return found


def _identity(location: Location) -> str:
    """One spelling per file, however the path was given (relative or absolute, `..` inside)."""
    return str(_absolute(location))


def _absolute(location: Location) -> Location:
    return Path(os.path.abspath(location)) if isinstance(location, Path) else location


def _relative(location: Location, out: Location) -> str:
    try:
        return location.relative_to(out).as_posix()
    except ValueError:
        raise ValueError(f"{location} is not under the output folder {out}") from None


def _normal(location: Location) -> Location:
    """A local path with `..` and `.` resolved by name (an object path always is)."""
    return Path(os.path.normpath(location)) if isinstance(location, Path) else location


def _up(folder: Location, root: str) -> Location:
    return _normal(folder / root) if root else folder


def parquet_dataset(folder: Where, **options):
    """A pyarrow dataset of exactly `listed_parts(folder)` (pandas and pyarrow readers outside Spark);
    None when there is nothing to read."""
    import pyarrow.dataset as ds

    parts = listed_parts(folder)
    if not parts:
        return None
    fs = storage.fs_path(parts[0])[0]
    return ds.dataset([storage.fs_path(p)[1] for p in parts], format="parquet", filesystem=fs, **options)
