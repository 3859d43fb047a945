"""The shards stage on real local Spark: determinism across partitionings, manifest, round trip."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from test_megatron import parse_megatron

from pipeline import layout
from pipeline.config import load_config
from pipeline.schema import DOC_SCHEMA, conform
from pipeline.shards.megatron import IndexedDataset
from pipeline.shards.tokenize import load_processor

pytestmark = pytest.mark.spark

HOSTS = {
    "en.wikipedia.org": ("wikipedia.org", "reference"),
    "www.bbc.co.uk/news": ("bbc.co.uk", "news"),
    "stackoverflow.com/questions": ("stackoverflow.com", "qa"),
    "example.com/page": ("example.com", "web"),
}
WORDS = "the of and model data token shard river mountain election vote python loop answer question".split()


def make_docs(n: int = 160, seed: int = 0) -> pa.Table:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        path, (host, _) = list(HOSTS.items())[i % len(HOSTS)]
        text = "\n".join(" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 25))) for _ in range(3))
        if i == 7:
            text = "   "  # counted as shards.empty_text, never written
        url = f"https://{path}/{i}"
        rows.append({"doc_id": f"d{i:04d}", "url": url, "url_norm": url, "host": host, "text": text})
    table = pa.Table.from_pylist(rows)
    batch = conform(table.to_batches()[0], DOC_SCHEMA)
    hq = pa.array([i % 5 == 0 for i in range(n)])
    return pa.Table.from_batches([batch]).append_column("hq", hq)


def run_stage(spark, tmp: Path, name: str, docs: pa.Table, input_files: int, shuffle_partitions: int, **over):
    from jobs.shards import run

    inp = tmp / f"{name}_in"
    inp.mkdir()
    rows_per_file = -(-docs.num_rows // input_files)
    for k in range(input_files):  # a different file layout gives Spark a different partitioning
        pq.write_table(docs.slice(k * rows_per_file, rows_per_file), inp / f"part-{k}.parquet")
    cfg = load_config(
        overrides={
            "mix.tokenizer.vocab_size": 300,
            "mix.shards.max_shard_tokens": 1500,
            "mix.shards.val_fraction": 0.05,
            "spark.shuffle_partitions": shuffle_partitions,
            **over,
        }
    )
    out = tmp / name
    stats = run(spark, cfg, str(inp), str(out))
    return out / "shards", stats


def tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != layout.SUCCESS  # the marker holds a run id, not data
    }


@pytest.fixture(scope="module")
def two_runs(spark, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("shards")
    docs = make_docs()
    a, stats = run_stage(spark, tmp, "a", docs, input_files=1, shuffle_partitions=2)
    b, _ = run_stage(spark, tmp, "b", docs, input_files=5, shuffle_partitions=7)
    return docs, a, b, stats


def test_byte_identical_across_partitionings(two_runs):
    _, a, b, _ = two_runs
    digest_a = tree_digest(a)
    assert digest_a == tree_digest(b)
    assert any(k.endswith(".bin") for k in digest_a) and "manifest.json" in digest_a


def test_manifest_matches_the_shards(two_runs):
    docs, root, _, stats = two_runs
    manifest = json.loads((root / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["dtype"] == "uint16"
    tok = manifest["tokenizer"]
    assert tok["sha256"] == hashlib.sha256((root / tok["path"]).read_bytes()).hexdigest()
    assert "<EMAIL>" in tok["user_defined_symbols"] and tok["eos_id"] == 2
    assert set(manifest["domains"]) == {"reference", "news", "qa", "web"}

    seen: dict[tuple[str, str], list[str]] = {}
    sp = load_processor(str(root / tok["path"]))
    for shard in manifest["shards"]:
        prefix = root / shard["prefix"]
        assert hashlib.sha256(Path(f"{prefix}.bin").read_bytes()).hexdigest() == shard["sha256_bin"]
        ds = IndexedDataset(prefix)
        assert (len(ds), ds.num_tokens) == (shard["docs"], shard["tokens"])
        assert shard["tokens"] <= 1500 or shard["docs"] == 1  # the size cap
        parsed = parse_megatron(str(prefix))  # the independent struct parser agrees with our reader
        assert parsed == [ds[i].tolist() for i in range(len(ds))]
        for tokens in parsed:
            text = sp.decode(tokens[:-1])
            assert tokens == sp.encode(text) + [tok["eos_id"]]  # the document's pieces, then exactly one EOS
            seen.setdefault((shard["split"], shard["domain"]), []).append(text)

    # Every non-empty document lands exactly once in train or val; anneal repeats the hq ones of train.
    texts = {r["text"] for r in docs.to_pylist() if r["text"].strip()}
    train_val = [t for (split, _), ts in seen.items() if split != "anneal" for t in ts]
    assert sorted(train_val) == sorted(texts)
    hq_texts = {r["text"] for r in docs.to_pylist() if r["hq"] and r["text"].strip()}
    anneal = {t for (split, _), ts in seen.items() if split == "anneal" for t in ts}
    train = {t for (split, _), ts in seen.items() if split == "train" for t in ts}
    assert anneal == hq_texts & train and anneal
    assert all(seen.get(("val", d)) for d in manifest["domains"])  # min_val_docs per domain

    mixture = manifest["mixture"]
    assert mixture["source"] == "availability"
    tokens = {d: row["tokens"] for d, row in manifest["domains"].items()}
    assert sum(mixture["weights"].values()) == pytest.approx(1.0)
    for d, w in mixture["weights"].items():
        assert w == pytest.approx(tokens[d] / sum(tokens.values()))
        assert mixture["epochs"][d] == pytest.approx(w * mixture["token_budget"] / tokens[d])
        assert w <= mixture["caps"][d] + 1e-12
    total = next(r for r in stats if r["rule"] == "_total")
    empty = next(r for r in stats if r["rule"] == "empty_text")
    assert (total["docs_in"], empty["docs_dropped"]) == (160, 1)


def test_fitted_weights_file(spark, tmp_path):
    docs = make_docs(60, seed=1)
    weights = tmp_path / "weights.json"
    given = {"news": 0.4, "qa": 0.3, "reference": 0.2, "web": 0.1}
    weights.write_text(json.dumps({"source": "fitted", "weights": given}))
    root, _ = run_stage(spark, tmp_path, "fitted", docs, 2, 3, **{"mix.weights_file": str(weights)})
    manifest = json.loads((root / "manifest.json").read_text())
    mixture = manifest["mixture"]
    assert mixture["source"] == "fitted"
    assert mixture["weights"] == pytest.approx(given)
    for d, w in given.items():
        assert mixture["epochs"][d] == pytest.approx(
            w * mixture["token_budget"] / manifest["domains"][d]["tokens"]
        )


def test_scratch_and_tokenizer_on_an_object_store(spark, tmp_path, s3_bucket, two_runs, monkeypatch):
    """Spark's token stream staged on the loopback S3 server and merged from there by the driver, the
    tokenizer read from there: the same shards as the local run that trained that tokenizer."""
    import jobs.shards
    from jobs import arrow_io
    from pipeline import layout, storage

    docs, local_root, _, _ = two_runs
    model_uri = f"{s3_bucket}/given/spm.model"
    storage.path(model_uri).write_bytes((local_root / "tokenizer" / "spm.model").read_bytes())
    monkeypatch.setattr(layout, "work_dir", lambda out, stage: storage.path(f"{s3_bucket}/work/{stage}"))
    written: dict[str, list[str]] = {}

    def recording(df, folder, **kw):
        written[str(folder)] = arrow_io.write_partitions(df, folder, **kw)
        return written[str(folder)]

    monkeypatch.setattr(jobs.shards, "write_partitions", recording)
    root, _ = run_stage(spark, tmp_path, "s3", docs, 3, 3, **{"mix.tokenizer.model": model_uri})

    assert sorted(written) == [f"{s3_bucket}/work/shards/tokens"]
    assert all(f.startswith(f"{s3_bucket}/work/shards/") for files in written.values() for f in files)
    local, remote = tree_digest(local_root), tree_digest(root)
    assert {k: v for k, v in remote.items() if k != "manifest.json"} == {
        k: v for k, v in local.items() if k != "manifest.json"
    }
    manifests = [json.loads((r / "manifest.json").read_text()) for r in (local_root, root)]
    assert manifests[1]["tokenizer"].pop("type") == "given"
    manifests[0]["tokenizer"].pop("type")
    assert manifests[0] == manifests[1]
