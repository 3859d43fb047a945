"""The fastText quality classifier: text normalisation, training, metrics, scoring, selection."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from classifiers.fasttext_text import fasttext_line, labelled_line
from classifiers.quality import (
    DEFAULT_MODEL,
    QualityModel,
    binary_metrics,
    pareto_draws,
    roc_auc,
    select,
    sha256_file,
    top_fraction_cutoff,
    train_quality_model,
)

REFERENCE_WORDS = "the history of the region was described by scholars in the journal survey study".split()
SPAM_WORDS = "buy now click here free shipping best price deal sale offer discount login".split()


def synthetic_corpus(n: int, seed: int) -> tuple[list[str], list[str]]:
    """Reference-like vs spam-like documents drawn from two vocabularies with 20% shared noise."""
    rng = random.Random(seed)

    def doc(words, other):
        return " ".join(rng.choice(other if rng.random() < 0.2 else words) for _ in range(40))

    return [doc(REFERENCE_WORDS, SPAM_WORDS) for _ in range(n)], [
        doc(SPAM_WORDS, REFERENCE_WORDS) for _ in range(n)
    ]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    pos, neg = synthetic_corpus(150, seed=1)
    path = tmp_path_factory.mktemp("model") / "tiny.bin"
    report = train_quality_model(pos, neg, path, seed=7, params={"dim": 8, "bucket": 20_000, "epoch": 5})
    return path, report


def test_fasttext_line_golden():
    text = "Hello, World!\n\nIt costs $1,999 (in 2016).\tEnd"
    assert fasttext_line(text) == "hello , world ! it costs $ 0 , 000 ( in 0000 ) . end"
    assert fasttext_line(text, max_words=3) == "hello , world"
    assert fasttext_line(None) == "" and fasttext_line("") == ""
    assert labelled_line("hq", "A b") == "__label__hq a b"
    assert "\n" not in fasttext_line("a\r\nb\u2028c")


def test_roc_auc_golden():
    # pairs (pos, neg): 0.8>0.3, 0.8>0.5, 0.4>0.3, 0.4<0.5 -> 3 of 4 correct
    assert roc_auc([1, 1, 0, 0], [0.8, 0.4, 0.3, 0.5]) == pytest.approx(0.75)
    assert roc_auc([1, 0], [0.5, 0.5]) == pytest.approx(0.5)  # a tie counts half
    assert np.isnan(roc_auc([1, 1], [0.1, 0.2]))
    m = binary_metrics([1, 1, 0, 0], [0.8, 0.4, 0.3, 0.6])
    assert (m["precision"], m["recall"], m["accuracy"]) == (0.5, 0.5, 0.5)


def test_training_reports_heldout_metrics_and_separates(tiny_model):
    path, report = tiny_model
    assert report["n_positive"] == report["n_negative"] == 150
    assert report["n_valid"] == 60 and report["n_train"] == 240
    assert report["heldout"]["roc_auc"] > 0.95
    assert report["sha256"] == sha256_file(path)
    model = QualityModel(path)
    pos, neg = synthetic_corpus(50, seed=99)  # fresh documents
    scores = model.score(pos + neg)
    assert scores.dtype == np.float32 and ((0 <= scores) & (scores <= 1)).all()
    assert roc_auc([1] * 50 + [0] * 50, scores) > 0.95
    assert model.score([]).shape == (0,)
    assert model.score([""]).shape == (1,)


def test_training_is_reproducible_and_quantizes(tmp_path):
    pos, neg = synthetic_corpus(60, seed=2)
    kw = {"seed": 3, "params": {"dim": 8, "bucket": 2000, "epoch": 3}}
    a = train_quality_model(pos, neg, tmp_path / "a.bin", **kw)
    b = train_quality_model(pos, neg, tmp_path / "b.bin", **kw)
    assert a["sha256"] == b["sha256"]  # thread=1 + fixed seed: byte-identical model
    q1 = train_quality_model(pos, neg, tmp_path / "a.ftz", **kw)
    q2 = train_quality_model(pos, neg, tmp_path / "b.ftz", **kw)
    assert q1["sha256"] == q2["sha256"] and q1["size_bytes"] < a["size_bytes"] / 2
    assert q1["heldout"]["roc_auc"] > 0.9


def test_training_needs_both_classes(tmp_path):
    with pytest.raises(ValueError, match="need both classes"):
        train_quality_model(["a b c"], ["", "  "], tmp_path / "m.bin")


def test_balance_downsamples_the_larger_class(tmp_path):
    pos, neg = synthetic_corpus(80, seed=4)
    report = train_quality_model(pos[:20], neg, tmp_path / "m.bin", seed=1, params={"dim": 4, "bucket": 1000})
    assert report["n_positive"] == report["n_negative"] == 20


def test_pareto_draws_follow_numpy_pareto_and_are_seeded_per_document():
    ids = [f"doc-{i}" for i in range(20000)]
    draws = pareto_draws(ids, alpha=9.0, seed=5)
    # Same distribution as numpy.random.pareto(9) (Lomax with shape 9).
    assert stats.kstest(draws, stats.lomax(c=9.0).cdf).pvalue > 0.01
    assert np.array_equal(draws[:100], pareto_draws(ids[:100], 9.0, seed=5))  # per document, not per batch
    assert np.array_equal(pareto_draws(ids[::-1], 9.0, 5), draws[::-1])  # order does not matter
    assert not np.array_equal(pareto_draws(ids[:100], 9.0, seed=6), draws[:100])


def test_select_modes():
    scores = np.array([0.1, 0.5, 0.9, 1.0])
    assert select(scores, "none").tolist() == [True] * 4
    assert select(scores, "threshold", threshold=0.5).tolist() == [False, True, True, True]
    cutoff = top_fraction_cutoff(scores, 0.5)
    assert cutoff == 0.9 and select(scores, "top_fraction", cutoff=cutoff).tolist() == [
        False,
        False,
        True,
        True,
    ]
    assert top_fraction_cutoff([], 0.1) == float("inf")
    keep = select(scores, "pareto", doc_ids=["a", "b", "c", "d"], alpha=9.0, seed=1)
    assert keep[3]  # score 1: the draw (> 0) always beats 1 - score = 0
    with pytest.raises(ValueError):
        select(scores, "top_fraction")
    with pytest.raises(ValueError):
        select(scores, "sometimes")


def test_pareto_keep_rate_matches_gpt3_formula():
    # P(keep) = P(pareto(9) > 1 - s) = (2 - s) ** -9
    n = 20000
    ids = [str(i) for i in range(n)]
    for s in (0.5, 0.9):
        rate = select(np.full(n, s), "pareto", doc_ids=ids, alpha=9.0, seed=0).mean()
        assert rate == pytest.approx((2 - s) ** -9, abs=0.01)


def test_quality_score_cli(tiny_model, tmp_path):
    path, _ = tiny_model
    pos, neg = synthetic_corpus(3, seed=11)
    inp = tmp_path / "docs.jsonl"
    lines = [json.dumps({"id": i, "text": t}) for i, t in enumerate(pos + neg)]
    inp.write_text("\n".join(lines[:3] + ["{broken json", json.dumps({"id": "no-text"})] + lines[3:]) + "\n")
    out = tmp_path / "scored.jsonl"
    cmd = [sys.executable, "-m", "classifiers", "quality-score", "--model", str(path)]
    proc = subprocess.run(
        [*cmd, "--input", str(inp), "--output", str(out)], check=True, capture_output=True, text=True
    )
    assert "1 bad lines skipped" in proc.stderr and "1 without text" in proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, "no-text", 3, 4, 5]
    assert rows[3]["quality_score"] is None
    expected = QualityModel(path).score(pos + neg)
    got = [r["quality_score"] for r in rows if r["id"] != "no-text"]
    assert np.allclose(got, expected, atol=1e-6)


def test_quality_train_cli_writes_model_card(tmp_path):
    pos, neg = synthetic_corpus(40, seed=12)
    (tmp_path / "pos.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in pos))
    (tmp_path / "neg.jsonl").write_text("".join(json.dumps({"body": {"t": t}}) + "\n" for t in neg))
    model = tmp_path / "m.ftz"
    cmd = [sys.executable, "-m", "classifiers", "quality-train", "--positives", str(tmp_path / "pos.jsonl")]
    cmd += ["--negatives", f"{tmp_path / 'neg.jsonl'}#body.t", "--output", str(model), "--dim", "4"]
    subprocess.run([*cmd, "--bucket", "1000", "--epoch", "3"], check=True, capture_output=True)
    card = json.loads(model.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(model) and card["n_positive"] == card["n_negative"] == 40
    assert card["command"].startswith("python -m classifiers quality-train")


def test_shipped_default_model_agrees_with_human_labels(shared_data):
    # The shipped model: small, its card matches its bytes, and it ranks DCLM's human labels.
    assert DEFAULT_MODEL.stat().st_size < 5_000_000
    card = json.loads(DEFAULT_MODEL.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(DEFAULT_MODEL)
    rows = [
        json.loads(x)
        for x in (shared_data / "quality_human_labels_dclm" / "human_quality_labels.jsonl").open()
    ]
    scores = QualityModel(DEFAULT_MODEL).score([r["text"] for r in rows])
    assert roc_auc([r["label"] for r in rows], scores) > 0.72  # measured 0.786 (BENCHMARKS.md)
