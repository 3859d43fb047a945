"""Shards on an object store, read from a verified local copy.

The data stream reads shards with `np.memmap`, which needs local files. A training whose OUT is an object
store (`--out s3://bucket/run`) therefore first copies OUT/shards into a local cache folder,
`train.cache_dir`/staged/<last name of the URI>-<digest of the URI and endpoint>/ (one folder per shards
location, so two runs never share or overwrite each other's files), mirroring the shards folder.

Trust comes from the manifest, read from the store at every start: each `.bin`/`.idx` it lists is checked
against its sha256 after the download, and a file already in the cache is checked the same way (size, then
sha256) before it is used: a cached file damaged or left half-written since is fetched again, never trusted.
A file whose bytes on the store do not match the manifest is a one-line `ShardError` naming its URI.

Several processes of one training stage the same folder (the driver's check, then each Ray worker, which on
another node has a cache of its own): they take turns under a lock on the folder, and a process that finds
the folder verified earlier in the same launch (`token`, made by the driver) uses it without hashing again.
A local OUT is read in place; nothing is copied.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import sys
from pathlib import Path

from pipeline import layout, storage
from pipeline.files import resolve_path, sha256_file
from pipeline.shards.megatron import bin_path, idx_path
from trainer.verify import ShardError

CHUNK = 8 << 20  # bytes per read of a download (hashed as they arrive)
LOCK = ".staging.lock"


def cache_folder(shards: storage.Where, cache_dir: str) -> Path:
    """The local folder that holds the copy of the shards at `shards` (an object-store URI)."""
    uri = str(storage.path(shards))
    digest = hashlib.sha256(f"{os.environ.get(storage.ENDPOINT_ENV, '')} {uri}".encode()).hexdigest()
    run_name = storage.path(uri).parent.name  # readable, one plain folder name
    readable = re.sub(r"[^A-Za-z0-9_.-]", "_", run_name).lstrip(".")[:60] or "run"
    return resolve_path(cache_dir) / "staged" / f"{readable}-{digest[:16]}"


def local_shards(shards: storage.Where, cache_dir: str, token: str | None = None) -> Path:
    """The local folder to read the shards at `shards` from: the folder itself when local, else its verified
    copy in the cache (staged now if needed)."""
    location = storage.path(shards)
    if not storage.is_remote(location):
        return location.resolve()
    folder = cache_folder(location, cache_dir)
    if token and (folder / f".verified-{token}").exists():
        return folder
    stage(location, folder, token)
    return folder


def stage(shards: storage.ObjectPath, folder: Path, token: str | None = None) -> dict[str, int]:
    """Bring `folder` in line with the manifest at `shards`; returns counts (fetched, refetched, kept)."""
    folder.mkdir(parents=True, exist_ok=True)
    folder = folder.resolve()
    with _locked(folder / LOCK):
        manifest_bytes = _read(layout.manifest_path(shards))
        manifest = json.loads(manifest_bytes)
        on_store = {name: size for name, size, _ in storage.files_under(shards)}
        counts = {"fetched": 0, "refetched": 0, "kept": 0}
        for shard in manifest["shards"]:
            prefix = _inside(folder, shard["prefix"])
            for path, key in ((Path(bin_path(prefix)), "sha256_bin"), (Path(idx_path(prefix)), "sha256_idx")):
                name = path.relative_to(folder).as_posix()
                if name not in on_store:
                    raise ShardError(f"{shards / name}: missing (listed in {layout.manifest_path(shards)})")
                counts[_bring(shards / name, path, on_store[name], shard.get(key))] += 1
        _write_atomically(layout.manifest_path(folder), manifest_bytes)  # last: the copy is complete
        for stamp in folder.glob(".verified-*"):  # of earlier launches
            stamp.unlink(missing_ok=True)
        if token:
            (folder / f".verified-{token}").touch()
    if counts["refetched"]:
        print(
            f"shard cache {folder}: {counts['refetched']} cached file(s) differed, fetched again",
            file=sys.stderr,
        )
    return counts


def _bring(source: storage.ObjectPath, target: Path, size: int, sha256: str | None) -> str:
    """Make `target` a verified copy of `source`; says whether it was kept, fetched or fetched again."""
    if target.is_file():
        if target.stat().st_size == size and (sha256 is None or sha256_file(target) == sha256):
            return "kept"
        outcome = "refetched"
    else:
        outcome = "fetched"
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    digest = hashlib.sha256()
    try:
        with source.open("rb") as stream, open(partial, "wb") as out:
            for block in iter(lambda: stream.read(CHUNK), b""):
                digest.update(block)
                out.write(block)
        if sha256 is not None and digest.hexdigest() != sha256:
            raise ShardError(f"{source}: sha256 differs from the manifest (corrupt or replaced on the store)")
        if partial.stat().st_size != size:
            raise ShardError(f"{source}: {partial.stat().st_size} bytes read, the store lists {size}")
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return outcome


def _inside(folder: Path, prefix: str) -> Path:
    """A manifest prefix as a path inside `folder` (never outside it, whatever the manifest says)."""
    path = (folder / prefix).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ShardError(f"manifest shard prefix {prefix!r} points outside the shards folder")
    return path


def _read(location: storage.ObjectPath) -> bytes:
    try:
        return location.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{location}: no shards manifest (run `make crawl-to-shards` first)"
        ) from None


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{os.getpid()}.part")
    partial.write_bytes(data)
    os.replace(partial, path)


@contextlib.contextmanager
def _locked(path: Path):
    """One stager per cache folder at a time (the others wait, then find the files in place)."""
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
