"""Golden tests for the Gopher quality and repetition rules: small texts whose values are counted by hand."""

from __future__ import annotations

import itertools
import string

import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.filters.gopher import GopherQualityFilter, GopherRepetitionFilter
from pipeline.schema import empty_docs, set_column

CFG = load_config()["filter"]


def docs(*texts: str | None) -> pa.RecordBatch:
    return set_column(empty_docs(len(texts)), "text", list(texts), pa.string())


def run(cls, texts, **overrides):
    out = cls({**CFG[cls.section], **overrides}).apply(docs(*texts))
    return out.to_pylist()


def two_letter_words(k: int, skip: int = 0) -> list[str]:
    """k distinct 2-letter words (2 chars each keeps the char arithmetic easy)."""
    pairs = ("".join(p) for p in itertools.product(string.ascii_lowercase, repeat=2))
    return list(itertools.islice(pairs, skip, skip + k))


# --- Gopher quality ------------------------------------------------------------------------------
def test_word_count_bounds():
    short, enough = " ".join(["the", "of"] + ["word"] * 47), " ".join(["the", "of"] + ["word"] * 48)
    rows = run(GopherQualityFilter, [short, enough])
    assert [r["gopher_word_count"] for r in rows] == [49, 50]
    assert [r["drop_reason"] for r in rows] == ["filter.gopher_min_words", None]
    rows = run(GopherQualityFilter, [enough, enough + " word"], max_words=50)
    assert [r["drop_reason"] for r in rows] == [None, "filter.gopher_max_words"]


def test_mean_word_length():
    low = " ".join(["the", "of"] + ["ab"] * 48)  # (3 + 2 + 96) / 50 = 2.02
    high = " ".join(["the", "of"] + ["abcdefghijk"] * 48)  # (3 + 2 + 528) / 50 = 10.66
    rows = run(GopherQualityFilter, [low, high])
    assert rows[0]["gopher_mean_word_length"] == pytest.approx(2.02)
    assert rows[1]["gopher_mean_word_length"] == pytest.approx(10.66)
    assert [r["drop_reason"] for r in rows] == [
        "filter.gopher_min_mean_word_length",
        "filter.gopher_max_mean_word_length",
    ]


def test_hash_and_ellipsis_word_ratios():
    five_hashes = " ".join(["the", "of"] + ["#tag"] * 5 + ["word"] * 43)  # 5 / 50 = 0.1: not above
    six_hashes = " ".join(["the", "of"] + ["#tag"] * 6 + ["word"] * 42)  # 6 / 50 = 0.12
    ellipses = " ".join(["the", "of"] + ["word..."] * 3 + ["word…"] * 3 + ["word"] * 42)  # 6 / 50
    rows = run(GopherQualityFilter, [five_hashes, six_hashes, ellipses])
    assert rows[0]["gopher_hash_word_ratio"] == pytest.approx(0.1)
    assert rows[1]["gopher_hash_word_ratio"] == pytest.approx(0.12)
    assert rows[2]["gopher_ellipsis_word_ratio"] == pytest.approx(0.12)
    assert [r["drop_reason"] for r in rows] == [
        None,
        "filter.gopher_hash_word_ratio",
        "filter.gopher_ellipsis_word_ratio",
    ]


def test_bullet_and_ellipsis_lines():
    bullet, plain = "•the of camel horse zebra", "the of camel horse zebra"
    nine = "\n".join([bullet] * 9 + [plain])  # 9 / 10 = 0.9: not above
    ten = "\n\n".join([bullet] * 10)  # blank lines are not lines: 10 / 10
    three = "\n".join([plain + "..."] * 3 + [plain] * 7)  # 3 / 10 = 0.3: not above
    four = "\n".join([plain + "…"] * 4 + [plain] * 6)
    rows = run(GopherQualityFilter, [nine, ten, three, four])
    assert [r["gopher_bullet_lines_frac"] for r in rows[:2]] == pytest.approx([0.9, 1.0])
    assert [r["gopher_ellipsis_lines_frac"] for r in rows[2:]] == pytest.approx([0.3, 0.4])
    assert [r["drop_reason"] for r in rows] == [
        None,
        "filter.gopher_bullet_lines",
        None,
        "filter.gopher_ellipsis_lines",
    ]


def test_alpha_words_fraction():
    ok = " ".join(["the", "of"] + ["123"] * 8 + ["camel"] * 40)  # 42 / 50 = 0.84
    low = " ".join(["the", "of"] + ["123"] * 11 + ["camel"] * 37)  # 39 / 50 = 0.78
    rows = run(GopherQualityFilter, [ok, low])
    assert [r["gopher_alpha_words_frac"] for r in rows] == pytest.approx([0.84, 0.78])
    assert [r["drop_reason"] for r in rows] == [None, "filter.gopher_alpha_words"]


def test_stop_words_are_distinct_and_case_insensitive():
    repeated = " ".join(["the"] * 3 + ["camel"] * 47)  # one distinct stop word, three times
    trimmed = " ".join(["(The,", "OF."] + ["camel"] * 48)  # "the" and "of" once punctuation is trimmed
    rows = run(GopherQualityFilter, [repeated, trimmed])
    assert [r["gopher_stop_words"] for r in rows] == [1, 2]
    assert [r["drop_reason"] for r in rows] == ["filter.gopher_stop_words", None]


def test_empty_and_null_text_are_rejected_not_crashing():
    rows = run(GopherQualityFilter, ["", None, "   \n  "])
    assert all(r["drop_reason"] == "filter.gopher_min_words" for r in rows)
    assert all(r["gopher_word_count"] == 0 for r in rows)


# --- Gopher repetition ---------------------------------------------------------------------------
def test_duplicate_line_fraction():
    a, b, c = "see below", " ".join(two_letter_words(40)), " ".join(two_letter_words(40, skip=40))
    kept = "\n".join([a, a, b, c])  # 1 duplicate / 4 lines
    dropped = "\n".join([a, a, a, b, c])  # 2 / 5
    rows = run(GopherRepetitionFilter, [kept, dropped])
    assert [r["gopher_dup_line_frac"] for r in rows] == pytest.approx([0.25, 0.4])
    # chars: 9 in the duplicate over 9 + 9 + 119 + 119
    assert rows[0]["gopher_dup_line_char_frac"] == pytest.approx(9 / 256)
    assert [r["drop_reason"] for r in rows] == [None, "filter.gopher_dup_line_frac"]


def test_duplicate_paragraph_fraction():
    p1 = "see below"
    p2 = "\n".join(two_letter_words(5))
    p3 = "\n".join(two_letter_words(5, skip=5))
    text = "\n\n".join([p1, p1, p1, p2, p3])  # 2 / 5 paragraphs; lines: 2 / 13
    [row] = run(GopherRepetitionFilter, [text])
    assert row["gopher_dup_para_frac"] == pytest.approx(0.4)
    assert row["gopher_dup_line_frac"] == pytest.approx(2 / 13)
    assert row["drop_reason"] == "filter.gopher_dup_para_frac"


def test_duplicate_line_and_paragraph_char_fractions():
    long = " ".join(two_letter_words(10))  # 29 chars
    shorts = two_letter_words(4, skip=10)  # 4 lines of 2 chars
    text = "\n".join([long, long, *shorts])  # 1 / 6 lines, chars 29 / (58 + 8)
    [row] = run(GopherRepetitionFilter, [text])
    assert row["gopher_dup_line_char_frac"] == pytest.approx(29 / 66)
    assert row["drop_reason"] == "filter.gopher_dup_line_char_frac"
    # paragraph chars: with the line rules off, the paragraph rule is the one that fires
    paras = "\n\n".join([long, long, *shorts])  # 1 / 6 paragraphs, chars 29 / 66
    [row] = run(GopherRepetitionFilter, [paras], dup_line_frac=None, dup_line_char_frac=None)
    assert row["gopher_dup_para_char_frac"] == pytest.approx(29 / 66)
    assert row["drop_reason"] == "filter.gopher_dup_para_char_frac"


def test_top_ngram_char_fraction_counts_overlaps_once():
    uniq = two_letter_words(14, skip=100)
    top = " ".join(["ab", "cd"] * 3 + uniq)  # "ab cd" 3 times: 12 / 40 chars
    overlap = " ".join(["zz"] * 4 + two_letter_words(16, skip=100))  # "zz zz" 3 times over 4 words: 8 / 40
    single = " ".join(two_letter_words(20, skip=100))  # nothing repeats
    rows = run(GopherRepetitionFilter, [top, overlap, single])
    assert rows[0]["gopher_top_2gram_char_frac"] == pytest.approx(0.3)
    assert rows[1]["gopher_top_2gram_char_frac"] == pytest.approx(0.2)
    assert rows[2]["gopher_top_2gram_char_frac"] == 0.0
    # "zz zz zz" occurs twice over the same 4 words: 8 / 40 = 0.2 > 0.18
    assert rows[1]["gopher_top_3gram_char_frac"] == pytest.approx(0.2)
    assert [r["drop_reason"] for r in rows] == ["filter.gopher_top_2gram", "filter.gopher_top_3gram", None]


def test_duplicate_ngrams_count_every_occurrence():
    passage = two_letter_words(5)
    text = " ".join(passage + two_letter_words(50, skip=200) + passage)  # 60 words, 120 chars
    [row] = run(GopherRepetitionFilter, [text])
    # both copies of the 5-gram: 20 / 120 chars (datatrove counts only the second copy: 10 / 120)
    assert row["gopher_dup_5gram_char_frac"] == pytest.approx(20 / 120)
    assert row["gopher_top_4gram_char_frac"] == pytest.approx(16 / 120)
    assert row["gopher_dup_6gram_char_frac"] == 0.0
    assert row["drop_reason"] == "filter.gopher_dup_5gram"


def test_duplicate_ngrams_overlapping_run():
    text = " ".join(["zz"] * 7 + two_letter_words(53, skip=200))  # 5-grams at 0, 1, 2 cover 7 words
    [row] = run(GopherRepetitionFilter, [text])
    assert row["gopher_dup_5gram_char_frac"] == pytest.approx(14 / 120)
    assert row["gopher_dup_6gram_char_frac"] == pytest.approx(14 / 120)
    assert row["gopher_dup_7gram_char_frac"] == 0.0


def test_signals_are_kept_for_rows_dropped_earlier():
    batch = docs("see below\nsee below\nsee below", "fine")
    batch = set_column(batch, "drop_reason", ["extract.empty_text", None], pa.string())
    out = GopherRepetitionFilter(CFG["gopher_repetition"]).apply(batch).to_pylist()
    assert out[0]["drop_reason"] == "extract.empty_text"  # never overwritten
    assert out[0]["gopher_dup_line_frac"] == pytest.approx(2 / 3)  # but measured
