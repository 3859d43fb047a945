"""The composite `filter` stage: family order, class-level schema, switches, and real documents."""

from __future__ import annotations

import gzip
import importlib.util
import json

import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.filters.c4 import C4Filter
from pipeline.filters.fineweb import FineWebFilter
from pipeline.filters.gopher import GopherQualityFilter, GopherRepetitionFilter
from pipeline.filters.stage import FilterStage
from pipeline.schema import DOC_SCHEMA, empty_docs, set_column, with_signals

FILTER_CFG = load_config()["filter"]
# the NSFW and PII families need the blocklists of ../shared/data; these tests are about the heuristics
HEURISTICS_ONLY = {**FILTER_CFG, "nsfw": {"enabled": False}, "pii": {"enabled": False}}

GOOD_DOC = "\n".join(
    [
        "The committee met on Tuesday to review the budget for the coming year.",
        "Members agreed that the library should have longer opening hours with more staff.",
        "A public meeting will be held next month to gather comments from residents.",
        "The final plan is expected to be published before the end of the summer.",
        "Officials said the changes would cost less than the repairs made last year.",
    ]
)
NAV = "Home\nAbout us\nContact\nLogin\nShare this page\nMenu"


def docs(*texts):
    return set_column(empty_docs(len(texts)), "text", list(texts), pa.string())


def test_class_attributes_concatenate_the_families_in_order():
    heuristic = [GopherRepetitionFilter, GopherQualityFilter, C4Filter, FineWebFilter]
    expected = [r for cls in heuristic for r in cls.rules]
    rules = list(FilterStage.rules)
    assert [r for r in rules if r in expected] == expected
    assert len(set(rules)) == len(rules)
    names = [f.name for f in FilterStage.signals]
    assert len(set(names)) == len(names)
    assert {
        "gopher_word_count",
        "gopher_top_2gram_char_frac",
        "c4_sentences",
        "fineweb_short_line_frac",
    } <= set(names)
    assert FilterStage.line_rules["c4_policy"] == ("c4_policy_lines", "c4_policy_chars")


def test_nsfw_and_pii_families_join_when_their_modules_exist():
    if importlib.util.find_spec("pipeline.filters.nsfw") is not None:
        assert FilterStage.rules[0] == "nsfw_words"  # first: it must see the text before any edit
    if importlib.util.find_spec("pipeline.filters.pii") is not None:
        pii_rules = [r for r in FilterStage.rules if r.startswith("pii")]
        assert pii_rules and FilterStage.rules[-len(pii_rules) :] == tuple(pii_rules)  # last


def test_keeps_prose_rejects_navigation_and_c4_cleans_before_fineweb():
    page = GOOD_DOC + "\n" + NAV  # 6 navigation lines that C4 removes
    out = FilterStage(HEURISTICS_ONLY).apply(docs(GOOD_DOC * 1, NAV, page)).to_pylist()
    assert out[0]["drop_reason"] is None
    assert out[1]["drop_reason"] == "filter.gopher_min_words"
    assert out[2]["drop_reason"] is None
    assert out[2]["text"] == GOOD_DOC  # C4 removed the navigation lines
    assert out[2]["c4_lines_removed"] == 6
    assert out[2]["fineweb_short_line_frac"] == 0.0  # FineWeb measured the cleaned text
    # every row has every signal, the rejected one included
    assert all(
        out[1][f.name] is not None for f in FilterStage.signals if f.name.startswith(("gopher", "c4_s"))
    )


def test_disabled_family_leaves_null_signals_and_never_rejects():
    cfg = {**HEURISTICS_ONLY, "gopher_quality": {**FILTER_CFG["gopher_quality"], "enabled": False}}
    out = FilterStage(cfg).apply(docs(NAV)).to_pylist()
    assert out[0]["gopher_word_count"] is None
    assert out[0]["drop_reason"] == "filter.c4_min_sentences"  # the next family's rule catches it
    assert set(out[0]) == set(with_signals(DOC_SCHEMA, FilterStage.signals).names)


def test_earlier_drop_reason_is_kept():
    batch = set_column(docs(NAV), "drop_reason", ["extract.empty_text"], pa.string())
    out = FilterStage(HEURISTICS_ONLY).apply(batch).to_pylist()
    assert out[0]["drop_reason"] == "extract.empty_text"
    assert out[0]["text"] == NAV  # a rejected row keeps its text
    assert out[0]["gopher_word_count"] == 9  # Home, About us, Contact, Login, Share this page, Menu


def _cc_docs(shared_data):
    texts = []
    for path in sorted((shared_data / "cc_text_samples").glob("dolma_cc_*.jsonl.gz")):
        if "spans" in path.name:
            continue
        with gzip.open(path, "rt") as f:
            texts += [json.loads(line)["text"] for line in f]
    return texts


@pytest.mark.data
def test_real_common_crawl_documents_with_every_family(shared_data):
    texts = _cc_docs(shared_data)
    assert len(texts) >= 20
    out = FilterStage(FILTER_CFG).apply(docs(*texts)).to_pylist()
    reasons = [r["drop_reason"] for r in out]
    assert any(r is None for r in reasons) and any(r is not None for r in reasons)
    assert {r.split(".")[0] for r in reasons if r} == {"filter"}
    assert all(r is None or r.removeprefix("filter.") in FilterStage.rules for r in reasons)
    assert all(row["gopher_word_count"] > 0 for row in out)


@pytest.mark.spark
def test_runs_on_spark_with_the_declared_schema(spark):
    from jobs.frames import dataframe_from_arrow
    from jobs.rowwise import run_rowwise

    table = pa.Table.from_batches([docs(GOOD_DOC, NAV)])
    df = run_rowwise(dataframe_from_arrow(spark, table), FilterStage, HEURISTICS_ONLY)
    rows = sorted(df.collect(), key=lambda r: r["text"])
    assert [r["drop_reason"] for r in rows] == ["filter.gopher_min_words", None]
    assert rows[1]["c4_sentences"] == 5
    assert set(df.columns) >= {f.name for f in FilterStage.signals}


def test_each_family_measures_every_declared_signal_by_name():
    """`measure()` returns values by signal name: the set of names is the declared schema, nothing
    positional, so a value cannot land in another signal's column."""
    from pipeline.config import load_config
    from pipeline.filters.stage import FAMILIES
    from pipeline.filters.text_stats import DocStats

    cfg = load_config()["filter"]
    stats = [DocStats(t) for t in ("", GOOD_DOC, NAV, "lorem ipsum {x} [1]\n" * 3)]
    families = [cls for cls in FAMILIES if hasattr(cls, "measure")]
    assert {cls.section for cls in families} == {"gopher_repetition", "gopher_quality", "c4", "fineweb"}
    for cls in families:
        family = cls(cfg[cls.section])
        for s in stats:
            measured = family.measure(s)
            assert {f.name for f in cls.signals} <= set(measured), cls.__name__
            assert set(measured) - {f.name for f in cls.signals} <= {"cleaned_text"}, cls.__name__


def test_each_family_names_its_config_section_once():
    import dataclasses

    from pipeline.filters.stage import FAMILIES
    from pipeline.settings import FilterSettings

    sections = [cls.section for cls in FAMILIES]
    assert sorted(sections) == sorted(f.name for f in dataclasses.fields(FilterSettings)) and len(
        set(sections)
    ) == len(sections)
