"""Decontamination, pure part: eval-set reading, normalisation, n-gram matching, drop and cut modes."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.decontam.evalsets import EvalSetError, load_eval_sets
from pipeline.decontam.ngrams import NgramRule, build_index, normalised_words
from pipeline.decontam.stage import DecontamStage, build_eval_index

GPT3 = NgramRule(percentile=5, min_n=8, max_n=13)
QUESTION = (
    "A baker fills seventeen jars with raspberry jam every Tuesday morning and gives three of them "
    "to the neighbours who live across the river; how many jars remain after six weeks?"
)
CODE = '''def rolling_median(values: list[float], width: int) -> list[float]:
    """Return the median of each window of the given width over values."""
    out = []
    for start in range(len(values) - width + 1):
        window = sorted(values[start:start + width])
        out.append(window[width // 2])
    return out
'''
FILLER = " ".join(f"Paragraph {i} talks about gardening, weather and the village fair." for i in range(40))


def _cfg(tmp_path, **overrides):
    cfg = load_config()["decontam"]
    cfg.update(overrides)
    return cfg


@pytest.fixture
def eval_files(tmp_path):
    qa = tmp_path / "toyqa.jsonl"
    qa.write_text(json.dumps({"question": QUESTION, "answer": "17 * 6 - 3 * 6 = 84\n#### 84"}) + "\n")
    code = tmp_path / "toycode.jsonl"
    code.write_text(json.dumps({"task_id": "Toy/0", "prompt": CODE, "entry_point": "rolling_median"}) + "\n")
    return [str(qa), str(code)]


def _batch(texts, reasons=None):
    n = len(texts)
    return pa.RecordBatch.from_pydict(
        {
            "doc_id": [f"d{i}" for i in range(n)],
            "url": [f"https://x.example/{i}" for i in range(n)],
            "text": texts,
            "drop_reason": pa.array(reasons or [None] * n, pa.string()),
        }
    )


def test_wikitext_tokenization_normalises_like_web_text():
    assert normalised_words("a well @-@ known fact , 1 @,@ 000 people") == normalised_words(
        "A well-known fact, 1,000 people"
    )
    assert normalised_words("def f_x(a):\n\treturn a") == ["def", "f", "x", "a", "return", "a"]


def test_ngram_length_is_the_5th_percentile_clamped_to_8_13():
    assert GPT3.length([100] * 20) == 13
    assert GPT3.length([3] * 20) == 8
    assert GPT3.length([10] * 19 + [200]) == 10


def test_txt_items_split_at_blank_lines_and_headings_and_unk_breaks_ngrams(tmp_path):
    path = tmp_path / "wiki.txt"
    path.write_text(
        " \n = Some Title = \n \n First section line one .\n line two .\n \n = = Sub = = \n \n"
        " alpha beta gamma delta epsilon zeta eta theta <unk> iota kappa lambda mu nu xi omicron pi rho\n"
    )
    items = load_eval_sets([str(path)], [])["wiki"]
    assert [i.item for i in items] == ["0", "1"]
    assert "Title" not in " ".join(s for i in items for s in i.segments)
    index = build_index({"wiki": items}, NgramRule(5, 8, 8))
    # 8 words before <unk>, 9 after: only n-grams inside one side exist.
    assert index.match_text("alpha beta gamma delta epsilon zeta eta theta").items == [1]
    assert not index.match_text("zeta eta theta iota kappa lambda mu nu").items


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "not found"),
        ("", "empty eval set"),
        ('{"question": "fine"}\n{not json\n', ":2: not valid JSON"),
        ('{"n": 3}\n', ":1: the item has no text"),
    ],
)
def test_bad_eval_sets_are_one_line_errors_naming_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    with pytest.raises(EvalSetError) as exc:
        build_eval_index(_cfg(tmp_path, eval_sets=[str(path)]))
    assert message in str(exc.value) and str(path) in str(exc.value) and "\n" not in str(exc.value)


def test_absent_default_entries_are_skipped_but_listed_ones_are_not(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere" / "x.jsonl")
    monkeypatch.setattr("pipeline.decontam.stage.default_eval_sets", lambda: [missing])
    assert build_eval_index(_cfg(tmp_path, eval_sets=[missing])).empty
    with pytest.raises(EvalSetError):
        build_eval_index(_cfg(tmp_path, eval_sets=[str(tmp_path / "other.jsonl")]))


def test_drop_mode_finds_whole_reindented_and_embedded_items_but_not_near_misses(tmp_path, eval_files):
    stage = DecontamStage(_cfg(tmp_path, eval_sets=eval_files))
    reindented = CODE.replace("    ", "\t").replace("\n", "\n\n")
    words = QUESTION.split()
    near_miss = " ".join(w if i % 6 else "zzz" for i, w in enumerate(words))  # at most 5 words in a row
    texts = [QUESTION, reindented, FILLER + "\n" + QUESTION.upper() + "\n" + FILLER, near_miss, FILLER]
    out = stage.apply(_batch(texts, [None, None, None, None, "filter.x"]))
    reasons = out.column("drop_reason").to_pylist()
    assert reasons == ["decontam.toyqa", "decontam.toycode", "decontam.toyqa", None, "filter.x"]
    assert out.column("decontam_items").to_pylist()[1] == [{"eval_set": "toycode", "item": "Toy/0"}]
    assert out.column("decontam_ngrams").to_pylist()[3:] == [0, 0]


def test_cut_mode_removes_the_overlap_and_200_chars_around_it(tmp_path, eval_files):
    stage = DecontamStage(_cfg(tmp_path, eval_sets=eval_files, mode="cut"))
    assert stage.line_rules
    page = FILLER + "\n" + QUESTION + "\n" + FILLER
    out = stage.apply(_batch([page, QUESTION, (QUESTION + " " + "x" * 30 + " ") * 12]))
    text = out.column("text").to_pylist()[0]
    assert out.column("drop_reason").to_pylist() == [None, "decontam.toyqa", "decontam.toyqa"]
    assert "raspberry" not in text and text.count("\n\n") == 1
    removed = out.column("decontam_chars_removed").to_pylist()[0]
    assert (
        removed == len(page) - len(text) and removed >= len(QUESTION) + 2 * 200 - 5
    )  # the span, its window, less the joint
    assert out.column("decontam_lines_removed").to_pylist()[0] >= 1
    # Unmatched documents are untouched.
    clean = stage.apply(_batch([FILLER]))
    assert (
        clean.column("text").to_pylist() == [FILLER]
        and clean.column("decontam_chars_removed")[0].as_py() == 0
    )


def test_empty_eval_set_list_is_a_pass_through(tmp_path):
    stage = DecontamStage(_cfg(tmp_path, eval_sets=[]))
    out = stage.apply(_batch([QUESTION, FILLER]))
    assert stage.rules == () and out.column("drop_reason").to_pylist() == [None, None]
