"""Stage fingerprints: what a stage's output was made from, recorded in its `_SUCCESS` marker.

A stage's marker holds the fingerprint of its input (for a later stage: the sha256 of the upstream
`_SUCCESS` it read; for extract: the WARC paths with their sizes and modification times) and of its
config: the sections it reads (`pipeline.stages`) plus the sha256 of the contents of every file its
path keys name (an eval set added to a folder, an edited weights file or blocklist, a retrained model),
and a fresh run id. A complete output is reused only when both recorded fingerprints equal the current
ones. Since every run writes a new run id into its marker, and the next stage's input fingerprint is
the hash of that marker, a rerun of one stage (changed config, changed input, or `--force`) makes every
later stage rerun as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from pipeline import layout, stages, storage
from pipeline.files import resolve_path, sha256_file
from pipeline.io.inputs import is_object, object_stats


class MissingInput(RuntimeError):
    """A stage's input folder has no `_SUCCESS`: it is unfinished (or not a stage output)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _value(cfg: dict[str, Any], dotted: str) -> Any:
    node: Any = cfg
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def config_fingerprint(cfg: dict[str, Any], stage: str) -> str:
    spec = stages.spec(stage)
    picked: dict[str, Any] = {dotted: _value(cfg, dotted) for dotted in spec.reads}
    picked["files"] = {item.key: files_fingerprint(named_paths(cfg, item)) for item in spec.files}
    return _sha256(json.dumps(picked, sort_keys=True, default=str).encode())


def named_paths(cfg: dict[str, Any], item: stages.FileKey) -> list[str]:
    """The paths a path key names in `cfg` (one, a list, or none), the shipped file when null."""
    value = _value(cfg, item.key)
    if value is None and item.when_null:
        value = stages.resolve(item.when_null)
    if value is None:
        return []
    return [str(v) for v in value] if isinstance(value, list | tuple) else [str(value)]


def files_fingerprint(paths: list[str]) -> list:
    """The contents of the named files (every file under a named folder), as sha256 per file.

    A relative path counts from the working directory and from the repository root (the stages read
    some keys one way, some the other): every file either names is hashed. A path that is absent is
    recorded as absent, so creating it later changes the fingerprint too.
    """
    entries: list = []
    for given in paths:
        candidates = dict.fromkeys([Path(given).expanduser().resolve(), resolve_path(given).resolve()])
        found = [p for p in candidates if p.exists()]
        if not found:
            entries.append([given, None])
        for path in found:
            files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
            entries.append([given, [[str(f.relative_to(path)), _content_hash(f)] for f in files]])
    return entries


_HASHES: dict[tuple[str, int, int], str] = {}  # (path, size, mtime_ns) -> sha256, for this process


def _content_hash(path: Path) -> str:
    """sha256 of the file, streamed; kept per (path, size, mtime) so a run hashes each file once
    however many times it fingerprints a stage (a write changes the mtime, so it is hashed again)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def _file_entry(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def warc_input_fingerprint(inputs: str | list[str] | None) -> str:
    """Extract's (and import's) input: each file (or every file under a folder) with size and mtime, from
    `os.stat` on local disk and from the object's metadata on an object store; http(s) URLs and crawl
    ids by name (Common Crawl files are immutable).

    Contents are deliberately not hashed: reading every byte of a crawl (1 GB per Common Crawl file) to
    learn that nothing changed would cost as much as a good part of the extraction. A WARC rewritten in
    place with the same size and modification time is therefore not noticed (an object store keeps
    mtimes to the second); `--force` reruns.
    """
    specs = inputs if isinstance(inputs, list) else [inputs] if inputs else []
    entries: list = []
    remote = sorted(str(storage.path(spec)) for spec in map(str, specs) if is_object(spec))
    stats = object_stats(remote)
    for spec in sorted(map(str, specs)):
        path = Path(spec)
        if is_object(spec):
            entries += stats.get(str(storage.path(spec)), [[str(storage.path(spec))]])
        elif path.is_file():
            entries.append(_file_entry(path))
        elif path.is_dir():
            entries += [_file_entry(p) for p in sorted(path.rglob("*")) if p.is_file()]
        else:
            entries.append([spec])
    return _sha256(json.dumps(entries).encode())


def docs_input_fingerprint(folder: str | Path) -> str:
    """A later stage's input: the hash of the `_SUCCESS` marker of the folder it reads."""
    marker = Path(folder) / layout.SUCCESS
    if not marker.is_file():
        raise MissingInput(
            f"input {folder} has no {layout.SUCCESS}: the stage that writes it did not finish; "
            "run it first (or crawl-to-shards, which does)"
        )
    return _sha256(marker.read_bytes())


def input_fingerprint(stage: str, inp) -> str:
    """The first stage reads WARC files; every later one the `_SUCCESS`-marked folder it is given."""
    if stages.previous(stage) is None:
        return warc_input_fingerprint(inp)
    return docs_input_fingerprint(inp[0] if isinstance(inp, list) else inp)


def expected(cfg: dict[str, Any], stage: str, input_fp: str) -> dict[str, str]:
    return {"stage": stage, "input": input_fp, "config": config_fingerprint(cfg, stage)}


def current(cfg: dict[str, Any], stage: str, inp) -> dict[str, str]:
    """What `stage` would be made from now; raises MissingInput when its input is unfinished."""
    return expected(cfg, stage, input_fingerprint(stage, inp))


def recorded(out: str | Path, stage: str) -> dict[str, str] | None:
    """The fingerprint in a complete stage's marker; None when absent or unreadable (an old-format
    or half-written marker counts as unknown, so the stage reruns)."""
    try:
        data = json.loads(layout.success_path(out, stage).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_current(out: str | Path, stage: str, want: dict[str, str]) -> bool:
    got = recorded(out, stage)
    return got is not None and all(got.get(k) == v for k, v in want.items())


def record(out: str | Path, stage: str, want: dict[str, str]) -> None:
    """Write the fingerprint (with a fresh run id) into the marker, atomically (write, then rename)."""
    marker = layout.success_path(out, stage)
    tmp = marker.with_name(f".{layout.SUCCESS}.tmp")
    tmp.write_text(json.dumps({**want, "run_id": uuid.uuid4().hex}, sort_keys=True) + "\n")
    os.replace(tmp, marker)
