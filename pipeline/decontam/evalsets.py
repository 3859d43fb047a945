"""Reading the evaluation sets the crawl is decontaminated against (`decontam.eval_sets`).

An entry of `decontam.eval_sets` is a file or a folder (every `.jsonl` and `.txt` file in it):

- `.jsonl`: one benchmark item per line; every string field is the item's text, concatenated in
  field order (GSM8K `question` + `answer`; HumanEval `prompt` + `canonical_solution` + `test` +
  `entry_point`), except an id field (`ID_FIELDS`), which names the item in the report instead of
  its line number.
- `.txt`: items are the runs of lines between blank lines and ` = Title = ` headings (WikiText's
  layout; Merity et al. 2016). WikiText's `<unk>` stands for a word it left out, so it cuts the item
  into separate segments: no n-gram spans it.

The eval set's name is the file's stem. Any problem (a missing file, an empty file, a bad JSON
line) is an `EvalSetError` with a one-line message naming the file and line, raised before any
engine starts. Entries of the shipped default list that are absent are skipped instead (the data
folder beside the checkout is optional), so only entries a user wrote can fail this way.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import ConfigError
from pipeline.files import resolve_path

log = logging.getLogger(__name__)

EVAL_SUFFIXES = (".jsonl", ".txt")
ID_FIELDS = ("task_id", "id")  # names the item (HumanEval's "HumanEval/0"); not part of its text
UNKNOWN_WORD = "<unk>"  # WikiText's placeholder for a word outside its vocabulary
HEADING_RE = re.compile(r"^\s*=(?:\s*=)*\s.*\s=(?:\s*=)*\s*$")  # " = Title = ", " = = Section = = "


class EvalSetError(ConfigError):
    """A bad evaluation set file: the message is one line naming the file (and line)."""


@dataclass(frozen=True)
class EvalItem:
    eval_set: str
    item: str  # the id field, or the 0-based item index within its file
    segments: tuple[str, ...]  # the item's text; n-grams never cross a segment boundary


def eval_set_files(entries: list[str], defaults: list[str]) -> list[Path]:
    """The eval set files named by the config entries, in order.

    An entry that is also in `defaults` (the shipped default list) and does not exist is skipped;
    any other missing entry is an error.
    """
    files: list[Path] = []
    for entry in entries:
        path = resolve_path(entry)
        if not path.exists():
            if entry in defaults:
                log.info("decontam: default eval set %s not present, skipped", path)
                continue
            raise EvalSetError(f"decontam.eval_sets: {path} not found")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in EVAL_SUFFIXES and p.is_file())
            if not found and entry not in defaults:
                raise EvalSetError(f"decontam.eval_sets: {path} holds no .jsonl or .txt file")
            files.extend(found)
        elif path.suffix in EVAL_SUFFIXES:
            files.append(path)
        else:
            raise EvalSetError(f"decontam.eval_sets: {path}: expected a .jsonl or .txt file")
    names = [f.stem for f in files]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise EvalSetError(f"decontam.eval_sets: two files share the eval set name {twice[0]!r} (the stem)")
    return files


def read_jsonl_items(path: Path) -> list[EvalItem]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise EvalSetError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            texts = [v for k, v in record.items() if isinstance(v, str) and k not in ID_FIELDS]
            if not any(t.strip() for t in texts):
                raise EvalSetError(f"{path}:{lineno}: the item has no text (no non-empty string field)")
            item_id = next((str(record[k]) for k in ID_FIELDS if k in record), str(len(items)))
            items.append(EvalItem(path.stem, item_id, ("\n".join(texts),)))
    return items


def read_txt_items(path: Path) -> list[EvalItem]:
    items: list[EvalItem] = []
    block: list[str] = []

    def close_block() -> None:
        text = "\n".join(block).strip()
        if text:
            segments = tuple(s for s in text.split(UNKNOWN_WORD) if s.strip())
            items.append(EvalItem(path.stem, str(len(items)), segments))
        block.clear()

    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip() or HEADING_RE.match(line):
                close_block()
            else:
                block.append(line.rstrip("\n"))
    close_block()
    return items


def read_eval_set(path: Path) -> list[EvalItem]:
    try:
        items = read_jsonl_items(path) if path.suffix == ".jsonl" else read_txt_items(path)
    except UnicodeDecodeError as exc:
        raise EvalSetError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if not items:
        raise EvalSetError(f"{path}: empty eval set (no items)")
    return items


def load_eval_sets(entries: list[str], defaults: list[str]) -> dict[str, list[EvalItem]]:
    """Eval set name -> its items, in config order."""
    return {path.stem: read_eval_set(path) for path in eval_set_files(entries, defaults)}
