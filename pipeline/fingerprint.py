"""Stage fingerprints: what a stage's output was made from, recorded in its `_SUCCESS` marker.

A stage's marker holds the fingerprint of its input (for a later stage: the sha256 of the upstream
`_SUCCESS` it read; for extract: the WARC paths with their sizes and modification times) and of the
config sections it reads, plus a fresh run id. A complete output is reused only when both recorded
fingerprints equal the current ones. Since every run writes a new run id into its marker, and the
next stage's input fingerprint is the hash of that marker, a rerun of one stage (changed config,
changed input, or `--force`) makes every later stage rerun as well.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from pathlib import Path
from typing import Any

from pipeline import layout

# The config sections each stage reads (dotted); a change in any of them reruns the stage. `spark`
# settings only change how a stage runs, never what it writes, so they are not part of any.
STAGE_CONFIG: dict[str, tuple[str, ...]] = {
    "import": ("run.name", "import"),  # run.name labels rows whose path names no crawl
    "extract": ("run", "extract", "filter.nsfw"),  # URL pre-checks read their lists from filter.nsfw
    "filter": ("filter",),
    "quality": ("run", "quality"),
    "dedup": ("dedup",),
    "decontam": ("decontam",),
    "shards": ("run", "mix", "filter.pii.placeholders"),  # placeholders become tokenizer symbols
}


class MissingInput(RuntimeError):
    """A stage's input folder has no `_SUCCESS`: it is unfinished (or not a stage output)."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def config_fingerprint(cfg: dict[str, Any], stage: str) -> str:
    picked = {}
    for dotted in STAGE_CONFIG[stage]:
        node: Any = cfg
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        picked[dotted] = node
    return _sha256(json.dumps(picked, sort_keys=True, default=str).encode())


def _file_entry(path: Path) -> list:
    st = path.stat()
    return [str(path.resolve()), st.st_size, st.st_mtime_ns]


def warc_input_fingerprint(inputs: str | list[str] | None) -> str:
    """Extract's input: each local file (or every file under a local folder) with size and mtime;
    remote URLs and crawl ids by name (Common Crawl files are immutable)."""
    specs = inputs if isinstance(inputs, list) else [inputs] if inputs else []
    entries: list = []
    for spec in sorted(map(str, specs)):
        path = Path(spec)
        if path.is_file():
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


def expected(cfg: dict[str, Any], stage: str, input_fp: str) -> dict[str, str]:
    return {"stage": stage, "input": input_fp, "config": config_fingerprint(cfg, stage)}


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
