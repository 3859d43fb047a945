"""The quality stage: pure QualityScorer on Arrow batches, and the Spark job end to end."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from classifiers.quality import QualityModel, sha256_file, train_quality_model
from pipeline.config import load_config
from pipeline.quality.stage import QualityScorer, host_matches
from pipeline.schema import DOC_SCHEMA, conform

GOOD = "the history of the region was described by scholars in the journal survey study".split()
SPAM = "buy now click here free shipping best price deal sale offer discount login".split()


def _doc(rng, words, other):
    return " ".join(rng.choice(other if rng.random() < 0.2 else words) for _ in range(40))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    rng = random.Random(0)
    pos = [_doc(rng, GOOD, SPAM) for _ in range(120)]
    neg = [_doc(rng, SPAM, GOOD) for _ in range(120)]
    path = tmp_path_factory.mktemp("qmodel") / "m.bin"
    train_quality_model(pos, neg, path, seed=1, params={"dim": 8, "bucket": 5000, "epoch": 5})
    return str(path)


def docs_batch(n: int, seed: int = 3) -> pa.RecordBatch:
    """n documents, alternately reference-like and spam-like; doc 0 already dropped upstream."""
    rng = random.Random(seed)
    texts = [_doc(rng, GOOD, SPAM) if i % 2 == 0 else _doc(rng, SPAM, GOOD) for i in range(n)]
    data = {
        "doc_id": [f"d{i:04d}" for i in range(n)],
        "url": [f"https://{'en.wikipedia.org' if i == 1 else f'site{i}.com'}/p{i}" for i in range(n)],
        "host": ["wikipedia.org" if i == 1 else f"site{i}.com" for i in range(n)],
        "text": texts,
        "drop_reason": ["filter.gopher_min_words"] + [None] * (n - 1),
    }
    data["url_norm"] = data["url"]  # already canonical
    return conform(pa.RecordBatch.from_pydict(data), DOC_SCHEMA)


def stage_cfg(model_path: str, **over) -> dict:
    cfg = {**load_config()["quality"], "model_path": model_path, "seed": 1}
    cfg.pop("train")
    cfg.update(over)
    return cfg


def test_threshold_selection_and_hq_by_domain(model_path):
    batch = docs_batch(40)
    stage = QualityScorer(
        stage_cfg(model_path, selection="threshold", hq_mode="domains", hq_domains=["wikipedia.org"])
    )
    out = stage.apply(batch)
    scores = np.array(out.column("quality_score").to_pylist())
    assert (
        out.schema.field("quality_score").type == pa.float32() and out.schema.field("hq").type == pa.bool_()
    )
    assert np.allclose(scores, QualityModel(model_path).score(batch.column("text").to_pylist()))
    reasons = out.column("drop_reason").to_pylist()
    assert reasons[0] == "filter.gopher_min_words"  # earlier drops are kept, yet still scored
    expected = [None if s >= 0.5 else "quality.threshold" for s in scores[1:]]
    assert reasons[1:] == expected
    assert reasons[2::2].count(None) >= 18 and reasons[1::2].count("quality.threshold") >= 17
    assert out.column("hq").to_pylist() == [i == 1 for i in range(40)]
    assert stage.rules == ("threshold",)


def test_existing_scores_are_not_recomputed(model_path):
    batch = docs_batch(4)
    batch = batch.set_column(
        batch.schema.get_field_index("quality_score"),
        "quality_score",
        pa.array([0.9, None, 0.1, None], pa.float32()),
    )
    out = QualityScorer(stage_cfg(model_path, score_only=True)).apply(batch)
    scores = out.column("quality_score").to_pylist()
    assert scores[0] == pytest.approx(0.9) and scores[2] == pytest.approx(0.1)
    assert None not in scores
    assert out.column("drop_reason").to_pylist() == batch.column("drop_reason").to_pylist()


def test_pareto_selection_is_per_document(model_path):
    batch = docs_batch(60)
    stage = QualityScorer(stage_cfg(model_path, selection="pareto", hq_cutoff=0.5))
    whole = stage.apply(batch).column("drop_reason").to_pylist()
    halves = stage.apply(batch.slice(0, 25)).column("drop_reason").to_pylist()
    halves += stage.apply(batch.slice(25)).column("drop_reason").to_pylist()
    assert whole == halves  # batching does not change which documents are kept
    assert set(whole[1:]) <= {None, "quality.pareto"} and "quality.pareto" in whole


def test_top_fraction_needs_the_global_cutoff(model_path):
    with pytest.raises(ValueError, match="cut-off"):
        QualityScorer(stage_cfg(model_path, selection="top_fraction", hq_cutoff=0.5)).apply(docs_batch(4))
    with pytest.raises(ValueError, match="hq_mode"):
        QualityScorer(stage_cfg(model_path, hq_mode="best"))


def test_host_matches_parent_domains():
    domains = frozenset({"bbc.co.uk", "nature.com"})
    urls = ["https://news.bbc.co.uk/x", "https://nature.com.evil.org/", None, "https://www.nature.com/a"]
    hosts = ["bbc.co.uk", "evil.org", "nature.com", "nature.com"]
    assert host_matches(urls, hosts, domains).tolist() == [True, False, True, True]


@pytest.mark.spark
def test_spark_job_trains_from_cited_urls_and_selects_top_fraction(spark, tmp_path):
    from jobs import quality

    inp = tmp_path / "in"
    inp.mkdir()
    batch = docs_batch(200, seed=5)
    pq.write_table(pa.Table.from_batches([batch]), inp / "part-0.parquet")
    # Wikipedia cites the reference-like (even) documents; `wiki-refs` writes normalised URLs.
    urls = batch.column("url").to_pylist()
    refs = tmp_path / "cited.txt"
    refs.write_text("".join(u + "\n" for i, u in enumerate(urls) if i % 2 == 0 and i > 0))
    overrides = {
        "quality.train.reference_urls": str(refs),
        "quality.train.min_positives": 20,
        "quality.train.dim": 8,
        "quality.train.bucket": 5000,
        "quality.train.epoch": 5,
        "quality.selection": "top_fraction",
        "quality.top_fraction": 0.25,
        "quality.hq_top_fraction": 0.1,
    }
    out = tmp_path / "out"
    stats = quality.run(spark, load_config(overrides=overrides), str(inp), str(out))

    record = json.loads((out / "quality_model.json").read_text())
    assert record["trained_in_run"] and Path(record["path"]).name == "quality_model.ftz"
    assert record["sha256"] == sha256_file(record["path"])
    # 99 cited documents (doc 0 was dropped upstream) and as many uncited negatives.
    assert record["training"]["n_positive"] == record["training"]["n_negative"] == 99
    assert record["training"]["heldout"]["roc_auc"] > 0.9

    kept = pq.read_table(out / "docs" / "quality").to_pandas()
    rejected = pq.read_table(out / "rejected" / "quality").to_pandas()
    assert len(kept) + len(rejected) == 200 and (out / "docs" / "quality" / "_SUCCESS").exists()
    assert kept["quality_score"].notna().all() and kept["hq"].notna().all()
    assert set(rejected["drop_reason"]) == {"filter.gopher_min_words", "quality.top_fraction"}
    live = np.concatenate(
        [kept["quality_score"], rejected.loc[rejected.drop_reason == "quality.top_fraction", "quality_score"]]
    )
    assert len(live) == 199
    assert abs(len(kept) - 0.25 * 199) <= 3  # ties at the cut-off may keep a few more
    assert kept["quality_score"].min() >= np.quantile(live, 0.74)
    assert kept["hq"].sum() == pytest.approx(0.1 * 199, abs=3)
    assert 0 < record["score_cutoff"] <= record["hq_cutoff"] <= 1
    # Perplexity (shipped reference LM) and its CCNet bucket on every kept and rejected row.
    both = pd.concat([kept, rejected])
    assert both["perplexity"].notna().all() and (both["perplexity"] > 1).all()
    cuts = record["perplexity"]["bucket_cuts"]
    assert record["perplexity"]["sha256"] == sha256_file(record["perplexity"]["path"])
    assert 0 < cuts["head"] <= cuts["middle"]
    expected = np.where(both["perplexity"] <= cuts["head"], "head", "middle")
    expected = np.where(both["perplexity"] > cuts["middle"], "tail", expected)
    assert (both["ppl_bucket"].to_numpy() == expected).all()
    live_buckets = both.loc[both["drop_reason"] != "filter.gopher_min_words", "ppl_bucket"]
    shares = live_buckets.value_counts(normalize=True)  # cuts are the 30th / 60th percentiles of these
    assert abs(shares["head"] - 0.3) < 0.05 and abs(shares["tail"] - 0.4) < 0.05
    # Trained on this crawl's own citations, the model keeps the cited kind of document.
    assert kept["doc_id"].map(lambda d: int(d[1:]) % 2 == 0).mean() > 0.8
    by_rule = {r["rule"]: r for r in stats}
    assert by_rule["top_fraction"]["docs_dropped"] == 199 - len(kept)


def test_scores_scratch_on_an_object_store(spark, tmp_path, s3_bucket, model_path, monkeypatch):
    """Pass 1's scores kept on the loopback S3 server (written and read back through pyarrow): the
    same selection as with the scratch on local disk, and the scratch is removed afterwards."""
    from jobs import arrow_io, quality
    from pipeline import layout, storage

    inp = tmp_path / "in"
    inp.mkdir()
    pq.write_table(pa.Table.from_batches([docs_batch(120, seed=9)]), inp / "part-0.parquet")
    cfg = load_config(
        overrides={
            "quality.model": model_path,
            "quality.selection": "top_fraction",
            "quality.top_fraction": 0.5,
            "quality.perplexity.enabled": False,
        }
    )
    local_out = tmp_path / "local"
    quality.run(spark, cfg, str(inp), str(local_out))

    local_work_dir = layout.work_dir
    scratch = f"{s3_bucket}/work/quality_scores"
    monkeypatch.setattr(
        layout,
        "work_dir",
        lambda out, stage: storage.path(scratch) if stage == "quality_scores" else local_work_dir(out, stage),
    )
    written: list[str] = []

    def recording(df, folder, **kw):
        written.extend(arrow_io.write_partitions(df, folder, **kw))
        return written

    monkeypatch.setattr(quality, "write_partitions", recording)
    remote_out = tmp_path / "remote"
    quality.run(spark, cfg, str(inp), str(remote_out))

    assert written and all(f.startswith(scratch + "/part-") for f in written)
    assert storage.files_under(scratch) == []  # removed once the stage is written
    for folder in ("docs/quality", "rejected/quality"):
        rows = [
            sorted(pq.read_table(out / folder).to_pylist(), key=lambda r: r["doc_id"])
            for out in (local_out, remote_out)
        ]
        assert rows[0] == rows[1]
    records = [json.loads(layout.quality_model_record(out).read_text()) for out in (local_out, remote_out)]
    assert records[0] == records[1] and records[0]["score_cutoff"] > 0


def test_a_model_trained_in_a_run_on_an_object_store_is_kept_there(spark, tmp_path, s3_bucket):
    """fastText saves local files: with OUT on S3 the driver trains into a local copy, scores with it
    and stores the model at OUT/quality_model.ftz, which the record names."""
    import hashlib

    from jobs import quality
    from jobs.frames import read_parquet, with_url_norm
    from pipeline import layout, storage

    inp = tmp_path / "in"
    inp.mkdir()
    batch = docs_batch(120, seed=11)
    pq.write_table(pa.Table.from_batches([batch]), inp / "part-0.parquet")
    refs = tmp_path / "cited.txt"
    refs.write_text(
        "".join(u + "\n" for i, u in enumerate(batch.column("url").to_pylist()) if i % 2 == 0 and i)
    )
    cfg = load_config(
        overrides={
            "quality.train.reference_urls": str(refs),
            "quality.train.min_positives": 20,
            "quality.train.dim": 8,
            "quality.train.bucket": 5000,
            "quality.train.epoch": 5,
        }
    )
    out = f"{s3_bucket}/run"
    docs = with_url_norm(read_parquet(spark, str(inp)))
    record, model_file = quality.resolve_model(spark, docs, cfg, out)

    stored = layout.quality_model_file(out)
    assert record["trained_in_run"] and record["path"] == str(stored) == f"{out}/quality_model.ftz"
    assert record["sha256"] == hashlib.sha256(storage.path(stored).read_bytes()).hexdigest()
    assert record["sha256"] == sha256_file(model_file)  # the driver's copy the tasks load
    try:
        scores = QualityModel(model_file).score(batch.column("text").to_pylist())
        assert scores[2::2].mean() > scores[1::2].mean()  # it learned the cited (even) kind of document
    finally:
        shutil.rmtree(model_file.parent)  # the driver's copy, one folder per store location
