"""The reference LM (Kneser-Ney n-grams) and the perplexity columns of the quality stage."""

from __future__ import annotations

import json
import random
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest

from classifiers.ngram_lm import BOS, DEFAULT_LM, NgramLM, build_lm
from classifiers.quality import sha256_file
from pipeline.quality.stage import QualityScorer, ppl_buckets

CORPUS = [
    "the cat sat on the mat . the dog sat on the log .",
    "a cat and a dog sat on the mat . the cat saw the dog .",
    "the dog ran to the cat and the cat ran to the mat .",
] * 3


@pytest.fixture(scope="module")
def small_lm():
    return build_lm(CORPUS, order=3, min_count=1)


def test_probabilities_sum_to_one_for_seen_and_unseen_contexts(small_lm):
    # Every context, seen in training or not, gives a distribution over the whole vocabulary.
    words = np.arange(len(small_lm.words), dtype=np.int64)
    the, cat, zebra = small_lm.vocab["the"], small_lm.vocab["cat"], 0
    for u, v in [(the, cat), (BOS, BOS), (cat, the), (zebra, zebra), (small_lm.vocab["mat"], the)]:
        # every candidate next word w after (u, v), laid out as separate 3-grams u v w
        grams = np.stack([np.full(len(words), u), np.full(len(words), v), words], axis=1).ravel()
        logp = small_lm.log_probs(grams, np.arange(2, len(grams), 3))
        assert np.exp(logp).sum() == pytest.approx(1, abs=1e-5)


def test_in_domain_text_has_lower_perplexity(small_lm):
    rng = random.Random(0)
    shuffled = CORPUS[0].split()
    rng.shuffle(shuffled)
    ppl = small_lm.perplexity([CORPUS[1], " ".join(shuffled), "zebra quantum xylophone", "", None])
    assert ppl[0] < ppl[1] < ppl[2]
    assert np.isnan(ppl[3]) and np.isnan(ppl[4])  # nothing to score
    # Per token: a document and itself repeated score about the same, and batching changes nothing.
    alone = small_lm.perplexity([CORPUS[1]])[0]
    assert (
        alone == pytest.approx(ppl[0]) and small_lm.perplexity([CORPUS[1] + " " + CORPUS[1]])[0] < 2 * alone
    )


def test_save_is_byte_identical_and_round_trips(small_lm, tmp_path):
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    small_lm.save(a)
    build_lm(CORPUS, order=3, min_count=1).save(b)
    assert sha256_file(a) == sha256_file(b)
    texts = ["the cat sat on the dog .", "mat mat mat"]
    assert np.allclose(NgramLM.load(a).perplexity(texts), small_lm.perplexity(texts))


def test_missing_or_corrupt_model_names_the_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        NgramLM.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ValueError, match="bad.npz"):
        NgramLM.load(bad)
    truncated = tmp_path / "trunc.npz"
    truncated.write_bytes(DEFAULT_LM.read_bytes()[:100_000])
    with pytest.raises(ValueError, match="trunc.npz"):
        NgramLM.load(truncated)


def test_shipped_lm_is_small_matches_its_card_and_prefers_wikipedia_prose():
    assert DEFAULT_LM.stat().st_size < 5_000_000
    card = json.loads(DEFAULT_LM.with_suffix(".json").read_text())
    assert card["sha256"] == sha256_file(DEFAULT_LM) and card["command"].startswith(
        "python -m classifiers lm-build"
    )
    lm = NgramLM.load(DEFAULT_LM)
    prose = "The river flows through the city and was an important trade route during the medieval period."
    spam = "click here buy now cheap deals best price free shipping login sign up"
    assert lm.perplexity([prose])[0] < lm.perplexity([spam])[0] / 2


def test_ppl_buckets_follow_ccnet_cuts():
    ppl = np.array([10.0, 30.0, 30.5, 60.0, 61.0, np.nan])
    assert ppl_buckets(ppl, [30.0, 60.0]) == ["head", "head", "middle", "middle", "tail", "tail"]


def _batch(texts, reasons):
    return pa.RecordBatch.from_pydict(
        {"doc_id": [f"d{i}" for i in range(len(texts))], "text": texts, "drop_reason": reasons}
    )


def test_stage_annotates_every_row_and_max_perplexity_drops(tmp_path):
    from classifiers.quality import DEFAULT_MODEL

    texts = [
        "The museum holds a collection of paintings from the nineteenth century, donated by the family.",
        "buy cheap pills online now click here best deals",
        "",
        "The committee published its report in the following year, after a long public debate.",
    ]
    cfg = {
        "model_path": str(DEFAULT_MODEL),
        "lm_path": str(DEFAULT_LM),
        "selection": "none",
        "hq_mode": "domains",
        "ppl_cuts": [100.0, 1000.0],
    }
    batch = _batch(texts, ["filter.c4_min_sentences", None, None, None])
    out = QualityScorer(cfg).apply(batch).to_pydict()
    ppl = out["perplexity"]
    assert ppl[2] is None and all(p > 1 for i, p in enumerate(ppl) if i != 2)
    assert out["ppl_bucket"] == ppl_buckets(
        np.array([np.nan if p is None else p for p in ppl]), [100.0, 1000.0]
    )
    assert out["drop_reason"] == ["filter.c4_min_sentences", None, None, None]  # annotate, drop nothing

    limit = (ppl[0] + ppl[1]) / 2  # between the prose and the spam
    assert ppl[0] < limit < ppl[1]
    stage = QualityScorer({**cfg, "max_perplexity": limit})
    assert stage.rules == ("max_perplexity",)
    reasons = stage.apply(batch).column("drop_reason").to_pylist()
    # the spam is dropped; the empty text has nothing to judge and stays (as re-thresholding treats
    # nulls, pipeline/rules.py); earlier drops stay
    assert reasons[:3] == ["filter.c4_min_sentences", "quality.max_perplexity", None]
    assert reasons[3] == (None if ppl[3] <= limit else "quality.max_perplexity")
    with pytest.raises(ValueError, match="perplexity.enabled"):
        QualityScorer({**cfg, "lm_path": None, "max_perplexity": 100.0})


def test_quality_score_cli_adds_perplexity_and_fails_in_one_line(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_text('{"text": "The town lies on the river."}\n{"id": 2}\nnot json\n{"text": ""}\n')
    out = tmp_path / "out.jsonl"
    cmd = [sys.executable, "-m", "classifiers", "quality-score", "--input", str(inp), "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert rows[0]["perplexity"] > 1 and 0 <= rows[0]["quality_score"] <= 1
    assert rows[1]["perplexity"] is None and rows[2]["perplexity"] is None  # no text / no tokens
    proc = subprocess.run([*cmd, "--lm", "none"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "perplexity" not in out.read_text()

    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"\x00" * 64)
    for flag, path in (("--lm", bad), ("--lm", tmp_path / "missing.npz"), ("--model", bad)):
        proc = subprocess.run([*cmd, flag, str(path)], capture_output=True, text=True, timeout=120)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and path.name in lines[0], proc.stderr


def test_job_cli_checks_models_before_spark(tmp_path):
    bad = tmp_path / "corrupt.ftz"
    bad.write_bytes(b"garbage" * 10)
    cmd = [sys.executable, "-m", "jobs", "quality", "--output", str(tmp_path / "out")]
    proc = subprocess.run(
        [*cmd, "--set", f"quality.model={bad}"], capture_output=True, text=True, timeout=120
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "corrupt.ftz" in last and last.startswith("model error")
    assert "SparkSession" not in proc.stderr and "spark" not in proc.stderr.lower()
