"""Golden tests for FineWeb's four rules (datatrove FineWebQualityFilter defaults)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.filters.fineweb import FineWebFilter
from pipeline.schema import empty_docs, set_column

CFG = load_config()["filter"]["fineweb"]


def run(texts, **overrides):
    batch = set_column(empty_docs(len(texts)), "text", list(texts), pa.string())
    return FineWebFilter({**CFG, **overrides}).apply(batch).to_pylist()


def prose(i: int, end: str = ".") -> str:
    """A distinct line of 11 words and more than 30 characters."""
    return f"line number {i} is long enough to pass the short rule{end}"


def test_terminal_punctuation_fraction():
    one = "\n".join([prose(0)] + [prose(i, end="") for i in range(1, 10)])  # 1 / 10 lines end in a mark
    two = "\n".join([prose(0), prose(1, end="!")] + [prose(i, end="") for i in range(2, 10)])
    rows = run([one, two])
    assert [r["fineweb_line_punct_frac"] for r in rows] == pytest.approx([0.1, 0.2])
    assert [r["drop_reason"] for r in rows] == ["filter.fineweb_line_punct_frac", None]


def test_short_line_fraction():
    short = [f"Short {i}." for i in range(7)]  # <= 30 chars
    seven = "\n".join(short + [prose(i) for i in range(3)])  # 7 / 10
    six = "\n".join(short[:6] + [prose(i) for i in range(4)])  # 6 / 10
    rows = run([seven, six])
    assert [r["fineweb_short_line_frac"] for r in rows] == pytest.approx([0.7, 0.6])
    assert [r["drop_reason"] for r in rows] == ["filter.fineweb_short_line_frac", None]


def test_duplicate_line_char_fraction():
    lines = [prose(i) for i in range(10)]
    text = "\n".join(lines + [lines[0]])  # one repeat of a 54-char line among 11
    [row] = run([text])
    assert row["fineweb_dup_line_char_frac"] == pytest.approx(
        len(lines[0]) / sum(map(len, lines + [lines[0]]))
    )
    assert row["drop_reason"] == "filter.fineweb_dup_line_char_frac"


def test_newline_word_ratio_counts_every_newline():
    lines = [f"Supercalifragilistic expialidocious{i}." for i in range(10)]  # 2 words, > 30 chars
    text = "\n\n".join(lines)  # 18 newlines (blank lines count) / 20 words
    [row] = run([text])
    assert row["fineweb_newline_word_ratio"] == pytest.approx(0.9)
    assert row["drop_reason"] == "filter.fineweb_newline_word_ratio"
    prose_doc = "\n".join(prose(i) for i in range(10))  # 9 / 110
    assert run([prose_doc])[0]["fineweb_newline_word_ratio"] == pytest.approx(9 / 110)


def test_empty_text_is_rejected():
    rows = run(["", None])
    assert [r["drop_reason"] for r in rows] == ["filter.fineweb_line_punct_frac"] * 2
