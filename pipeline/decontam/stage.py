"""The `decontam` stage: documents that share an n-gram with a benchmark item are dropped or cut.

Config: the `decontam:` section of configs/default.yaml. The eval-set index (pipeline/decontam/ngrams.py)
is built once by the caller and handed to the stage (on Spark: a broadcast); built from the config
when none is given, so a notebook can run the stage on a batch directly.

Signals, on every row:
- `decontam_items`   the benchmark items the document overlaps: list of {eval_set, item};
- `decontam_ngrams`  how many of its n-gram positions are eval n-grams;
- `decontam_lines_removed`, `decontam_chars_removed`  what `mode: cut` took out of a kept document.

`mode: drop` (default) sets `drop_reason = decontam.<eval set>` (the first eval set, in config order,
of the items matched). `mode: cut` is GPT-3's (Brown et al. 2020, app. C; the values of EleutherAI's
lm-evaluation-harness janitor): the overlap plus `cut_window_chars` on each side is removed, the
document splits there, pieces under `cut_min_piece_chars` are dropped, and a document split into more
than `cut_max_pieces` pieces (or left with none) is dropped under the same reason. The pieces kept
stay one document, joined by a blank line; the removed lines and characters are counted like the
C4 line rules (line rule `cut`).
"""

from __future__ import annotations

from typing import Any, ClassVar

import pyarrow as pa

from pipeline.decontam.evalsets import load_eval_sets
from pipeline.decontam.ngrams import EvalIndex, Match, NgramRule, build_index, word_spans
from pipeline.schema import set_column
from pipeline.settings import DecontamSettings
from pipeline.stage import Stage

MODES = ("drop", "cut")
ITEM_TYPE = pa.struct([("eval_set", pa.string()), ("item", pa.string())])
PIECE_SEPARATOR = "\n\n"


def default_eval_sets() -> list[str]:
    """The shipped default `decontam.eval_sets` (entries of it may be absent)."""
    from pipeline.config import load_config

    return list(load_config()["decontam"]["eval_sets"])


def check_mode(cfg: dict[str, Any]) -> str:
    from pipeline.config import ConfigError

    mode = DecontamSettings.from_section(cfg).mode
    if mode not in MODES:
        raise ConfigError(f"decontam.mode: expected one of {MODES}, got {mode!r}")
    return mode


def build_eval_index(cfg: dict[str, Any]) -> EvalIndex:
    """The index of the configured eval sets; raises a one-line EvalSetError/ConfigError on bad input."""
    check_mode(cfg)
    sets = load_eval_sets(list(cfg.get("eval_sets") or []), default_eval_sets())
    rule = NgramRule(cfg["ngram_percentile"], cfg["min_ngram"], cfg["max_ngram"])
    return build_index(sets, rule)


def cut_document(
    text: str, words: list[str], match: Match, cfg: dict[str, Any]
) -> tuple[str | None, int, int]:
    """GPT-3's cut of one document: (the new text, or None when the whole document goes; lines
    removed; characters removed)."""
    window, min_piece = int(cfg["cut_window_chars"]), int(cfg["cut_min_piece_chars"])
    spans = word_spans(text, words)
    # Each matched n-gram's characters plus the window on both sides, overlapping ranges merged.
    windows = sorted(
        (max(0, spans[first][0] - window), min(len(text), spans[last - 1][1] + window))
        for first, last in match.word_ranges
    )
    removed: list[list[int]] = []
    for start, end in windows:
        if removed and start <= removed[-1][1]:
            removed[-1][1] = max(removed[-1][1], end)
        else:
            removed.append([start, end])
    # The pieces between the removed ranges.
    bounds = [0, *(x for r in removed for x in r), len(text)]
    pieces = [(bounds[i], bounds[i + 1]) for i in range(0, len(bounds), 2) if bounds[i + 1] > bounds[i]]
    if len(pieces) > int(cfg["cut_max_pieces"]):
        return None, 0, 0
    kept = [text[a:b].strip() for a, b in pieces if b - a >= min_piece]
    kept = [piece for piece in kept if piece]
    if not kept:
        return None, 0, 0
    new_text = PIECE_SEPARATOR.join(kept)
    # Lines touched by what went: the removed ranges and the pieces too short to keep.
    gone = [(a, b) for a, b in removed] + [(a, b) for a, b in pieces if b - a < min_piece]
    lines = sum(text.count("\n", a, b) + 1 for a, b in gone)
    return new_text, lines, len(text) - len(new_text)


class DecontamStage(Stage):
    name: ClassVar[str] = "decontam"
    signals: ClassVar[tuple[pa.Field, ...]] = (
        pa.field("decontam_items", pa.list_(ITEM_TYPE)),
        pa.field("decontam_ngrams", pa.int32()),
        pa.field("decontam_lines_removed", pa.int64()),
        pa.field("decontam_chars_removed", pa.int64()),
    )

    def __init__(self, cfg: dict[str, Any], index: EvalIndex | None = None):
        super().__init__(cfg)
        self.mode = check_mode(cfg)
        self.index = index if index is not None else build_eval_index(cfg)
        # One rule per eval set (the drop reason names it); `cut` also edits kept documents.
        self.rules = tuple(s.name for s in self.index.sets)
        self.line_rules = (
            {"cut": ("decontam_lines_removed", "decontam_chars_removed")} if self.mode == "cut" else {}
        )

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text")
        matches, words, starts = self.index.match_batch(texts)
        reasons = batch.column("drop_reason").to_pylist()
        new_texts: list[str | None] | None = None
        lines_removed = [0] * batch.num_rows
        chars_removed = [0] * batch.num_rows
        for i, match in enumerate(matches):
            if not match.items or reasons[i] is not None:
                continue
            reason = self.reason(self.index.set_of(match.items[0]))
            if self.mode == "drop":
                reasons[i] = reason
                continue
            if new_texts is None:
                new_texts = texts.to_pylist()
            doc_words = words[int(starts[i]) : int(starts[i + 1])].to_pylist()
            cut, lines_removed[i], chars_removed[i] = cut_document(new_texts[i], doc_words, match, self.cfg)
            if cut is None:
                reasons[i] = reason
            else:
                new_texts[i] = cut
        items = [[dict(zip(("eval_set", "item"), self.index.item_keys[j])) for j in m.items] for m in matches]
        batch = set_column(batch, "decontam_items", pa.array(items, pa.list_(ITEM_TYPE)))
        batch = set_column(batch, "decontam_ngrams", pa.array([m.ngrams for m in matches], pa.int32()))
        batch = set_column(batch, "decontam_lines_removed", pa.array(lines_removed, pa.int64()))
        batch = set_column(batch, "decontam_chars_removed", pa.array(chars_removed, pa.int64()))
        if new_texts is not None:
            batch = set_column(batch, "text", pa.array(new_texts, pa.string()))
        return set_column(batch, "drop_reason", pa.array(reasons, pa.string()))
