"""Every path under OUT is spelled in pipeline/layout.py, the trainer's included: no trainer module joins
an OUT folder or file name of its own, and the pre-decay slot is defined once."""

from __future__ import annotations

import re
from pathlib import Path

from pipeline import layout

REPO = Path(__file__).resolve().parent.parent
OUT_NAMES = ("shards", "train", "pre_decay", "metrics.jsonl", "ablate", "variants", "models", "manifest.json")
JOINED = re.compile(r'/\s*f?"(?:%s)\b' % "|".join(re.escape(n) for n in OUT_NAMES))


def test_trainer_modules_join_no_out_names_of_their_own():
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for path in sorted((REPO / "trainer").glob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if JOINED.search(line)
    ]
    assert found == [], "\n".join(found)


def test_one_pre_decay_dir():
    defined = [
        str(path.relative_to(REPO))
        for folder in ("pipeline", "trainer", "jobs", "mixing", "bench")
        for path in (REPO / folder).rglob("*.py")
        if "def pre_decay_dir(" in path.read_text()
    ]
    assert defined == ["pipeline/layout.py"], defined
    assert layout.pre_decay_dir("OUT/train", "main") == Path("OUT/train/pre_decay/main")
