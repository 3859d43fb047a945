"""The extraction cascade and trafilatura's nesting limit.

Real trafilatura throughout. The cascade tests read real pages from ../shared/data (WCXB forum pages
and the Zyte article benchmark) and skip when it is absent; the nesting tests build their pages here.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

import lxml.html
import pytest
from test_extract_stage import response, rows

from pipeline.config import load_config
from pipeline.extract.html import (
    BASELINE,
    FIRST,
    TEXT_WALK,
    Cascade,
    extract_with_cascade,
    run_trafilatura,
    trafilatura_kwargs,
)

PARAGRAPH = (
    "<p>Tides are the regular rise and fall of the sea surface caused by the gravity of the moon and the sun. "
    "Most coasts see two high tides and two low tides every day, about twelve hours apart.</p>"
)
SENTENCE = "two high tides and two low tides every day"


def nested_page(depth: int) -> str:
    return (
        "<html><head><title>Tides</title><style>p {color: red}</style></head><body>"
        + "<div>" * depth
        + PARAGRAPH
        + "</div>" * depth
        + "<script>var hidden = 'not text';</script></body></html>"
    )


# --- nesting ------------------------------------------------------------
def test_text_inside_300_nested_divs_is_kept():
    # libxml2 stops building the tree at depth 256 unless asked for huge trees, and trafilatura then
    # finds no text: this page used to come out as extract.empty_text with its paragraph lost.
    (row,) = rows([response(body=nested_page(300))])
    assert row["drop_reason"] is None, row["drop_reason"]
    assert SENTENCE in row["text"]
    assert row["deep_nesting"] is True and row["extract_pass"] == FIRST


@pytest.mark.parametrize("depth", [3000, 50_000])
def test_deeper_than_any_tree_parser_goes_to_the_text_walk(depth):
    # past 2048 levels even lxml's huge_tree stops; the streaming text walk keeps the visible text
    (row,) = rows([response(body=nested_page(depth))])
    assert row["drop_reason"] is None, row["drop_reason"]
    assert SENTENCE in row["text"] and "hidden" not in row["text"] and "color" not in row["text"]
    assert row["deep_nesting"] is True and row["extract_pass"] == TEXT_WALK


def test_ordinary_page_is_not_deep():
    (row,) = rows([response()])
    assert row["drop_reason"] is None and row["deep_nesting"] is False and row["extract_pass"] == FIRST


FORM_PAGE = (
    "<html><body><article><h1>Tide tables</h1>"
    + PARAGRAPH * 3
    + "<form action='/s'><label for='q'>Port</label>"
    "<input id='q' name='q' value='Brest'><select name='d'><option>today</option></select>"
    "<textarea name='c'>Your comment</textarea></form></article></body></html>"
)


def test_the_parse_calls_no_python_per_element(monkeypatch):
    # lxml.html's class lookup is a Python method called for every element object trafilatura makes
    # (thousands per page); the stage's parser resolves classes in C, with the same output
    calls = []
    original = lxml.html.HtmlElementClassLookup.lookup
    monkeypatch.setattr(
        lxml.html.HtmlElementClassLookup, "lookup", lambda *a: calls.append(1) or original(*a)
    )
    ours = extract_with_cascade(FORM_PAGE, "https://example.org/tides", CASCADE)
    assert calls == []
    assert ours.text == run_trafilatura(FORM_PAGE, "https://example.org/tides", TODAY)  # its own parse
    assert SENTENCE in ours.text


# --- the cascade on real pages -----------------------------------------------
EXTRACT = load_config()["extract"]
TODAY = trafilatura_kwargs(EXTRACT)  # the first pass alone: what the stage ran before the cascade
CASCADE = Cascade.from_config(EXTRACT)
# A WCXB forum thread (developer half) whose posts the first pass mostly drops: 551 of ~12,300 visible
# characters, token F1 0.19; trafilatura's baseline keeps the posts.
FORUM_ID = "0528"


def token_f1(predicted: str, truth: str) -> float:
    """WCXB's metric (its README): lower-cased \\w+ tokens, multiset overlap."""
    pred, true = (Counter(re.findall(r"\w+", text.lower())) for text in (predicted, truth))
    overlap = sum((pred & true).values())
    if not overlap:
        return 0.0
    precision, recall = overlap / sum(pred.values()), overlap / sum(true.values())
    return 2 * precision * recall / (precision + recall)


def wcxb_pages(shared_data, page_type: str) -> list[dict]:
    root = shared_data / "extraction_wcxb"
    with gzip.open(root / "ground-truth.jsonl.gz", "rt", encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines]
    pages = []
    for rec in sorted(records, key=lambda r: r["file_id"]):
        truth = rec["ground_truth"]["main_content"] or ""
        if rec["_internal"]["page_type"]["primary"] == page_type and truth.strip():
            html = gzip.decompress((root / "html" / f"{rec['file_id']}.html.gz").read_bytes()).decode("utf-8")
            pages.append({"id": rec["file_id"], "url": rec["url"], "html": html, "truth": truth})
    return pages


def test_cascade_fires_on_forum_pages_and_keeps_more_of_them(shared_data):
    forums = wcxb_pages(shared_data, "forum")
    assert len(forums) >= 40
    today_f1 = cascade_f1 = 0.0
    rerun = 0
    for page in forums:
        today = run_trafilatura(page["html"], page["url"], TODAY)
        result = extract_with_cascade(page["html"], page["url"], CASCADE)
        today_f1 += token_f1(today, page["truth"]) / len(forums)
        cascade_f1 += token_f1(result.text, page["truth"]) / len(forums)
        if result.passes_run > 1:
            rerun += 1
        else:  # no later pass: exactly what the first pass alone gives
            assert result.text == today and result.extract_pass == FIRST, page["id"]
    assert rerun >= 8, rerun  # about a quarter of the forum threads keep under a tenth of their text
    assert cascade_f1 >= today_f1 + 0.05, (today_f1, cascade_f1)


def test_cascade_leaves_articles_alone(shared_data):
    root = shared_data / "extraction_scrapinghub_aeb"
    truth = json.loads((root / "ground-truth.json").read_text())
    rerun = changed = 0
    for page_id, item in sorted(truth.items()):
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8")
        result = extract_with_cascade(html, item["url"], CASCADE)
        rerun += result.passes_run > 1
        changed += result.text != run_trafilatura(html, item["url"], TODAY)
    assert rerun <= 2 and changed == 0, (rerun, changed)  # 92 articles


def test_stage_takes_the_baseline_pass_on_a_forum_thread(shared_data):
    (page,) = [p for p in wcxb_pages(shared_data, "forum") if p["id"] == FORUM_ID]
    today = run_trafilatura(page["html"], page["url"], TODAY)
    (row,) = rows([response(url=page["url"], body=page["html"])])
    assert row["drop_reason"] is None
    assert row["extract_pass"] == BASELINE and row["extract_passes_run"] >= 2
    assert row["first_pass_kept_frac"] < CASCADE.baseline_below_frac
    assert len(row["text"]) > 5 * len(today)
    assert token_f1(row["text"], page["truth"]) > token_f1(today, page["truth"]) + 0.3
