"""Data ablations: equal-token models on competing shard sets, compared in bits per byte.

The end-to-end test plants a run whose training shards hold random token ids (same tokenizer, same document
lengths, so the same token count) next to the real demo run: a model trained on noise must lose to one
trained on text, on the real run's validation text and on the external reference text.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import layout, stages
from pipeline.config import load_config
from pipeline.files import sha256_file
from pipeline.settings import TrainSettings
from trainer.ablate import AblationError, contamination, make_plan, run_ablation
from trainer.ablate_eval import EvalSet, text_file_documents
from trainer.ablate_report import paired_interval, summary, verdict

WIKITEXT = Path(__file__).resolve().parents[2] / "shared" / "data" / "wikitext2" / "valid.txt"


def _random_token_run(real: Path, target: Path, seed: int = 0) -> Path:
    """A copy of `real`'s shards whose train/anneal tokens are uniform random ids (manifest re-hashed)."""
    shutil.copytree(real / "shards", target / "shards")
    manifest_path = target / "shards" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    dtype = np.dtype(manifest["dtype"])
    vocab = manifest["tokenizer"]["vocab_size"]
    rng = np.random.default_rng(seed)
    for shard in manifest["shards"]:
        if shard["split"] == "val":
            continue
        bin_path = target / "shards" / f"{shard['prefix']}.bin"
        n = bin_path.stat().st_size // dtype.itemsize
        rng.integers(3, vocab, size=n).astype(dtype).tofile(bin_path)
        shard["sha256_bin"] = sha256_file(bin_path)
    manifest_path.write_text(json.dumps(manifest, indent=2))
    return target


def _small_cfg() -> dict:
    cfg = load_config()
    cfg["train"].update(micro_batch=4, threads=1, warmup_steps=5)
    return cfg


def test_paired_interval_and_verdict():
    mean, low, high = paired_interval([0.10, 0.12, 0.11])
    assert low < mean < high and low > 0
    assert paired_interval([0.1]) == (0.1, None, None)
    results = pd.DataFrame(
        [
            {"run": run, "seed": s, "eval_set": "ref", "bits_per_byte": base + 0.01 * s}
            for run, base in (("a", 2.0), ("b", 1.5))
            for s in range(3)
        ]
    )
    table = summary(results)
    assert "b is better than a" in verdict(table, "ref")
    same = results.assign(bits_per_byte=[2.0, 2.1, 1.9, 2.05, 1.95, 2.0])
    assert "no significant difference" in verdict(summary(same), "ref")


def test_plan_refuses_a_budget_beyond_the_epoch_cap(demo_run):
    out, _, _ = demo_run
    cfg = _small_cfg()
    plan = make_plan([out, out], train=TrainSettings.from_config(cfg), preset="tiny", tokens=None, seeds=2)
    assert plan["tokens"] == plan["steps"] * plan["tokens_per_step"]
    assert all(not r["repeated"] for r in plan["runs"])
    with pytest.raises(AblationError, match=r"training tokens: .* beyond the cap of 4"):
        make_plan([out, out], train=TrainSettings.from_config(cfg), preset="tiny", tokens=10**9, seeds=1)


@pytest.mark.skipif(not WIKITEXT.exists(), reason="needs ../shared/data/wikitext2/valid.txt")
def test_wikitext_reference_is_detokenized_articles():
    docs = text_file_documents(WIKITEXT)
    assert len(docs) > 20
    assert not any(" @-@ " in d or "<unk>" in d for d in docs)


@pytest.mark.ray
def test_random_tokens_lose_to_real_text(demo_run, tmp_path):
    real, _, _ = demo_run
    noise = _random_token_run(real, tmp_path / "noise")
    eval_texts = [WIKITEXT] if WIKITEXT.exists() else []
    import ray

    try:
        results = run_ablation(
            [real, noise], tmp_path / "abl", cfg=_small_cfg(), preset="tiny", tokens=40 * 4 * 64, seeds=1,
            eval_texts=eval_texts, max_eval_bytes=60_000,
        )  # fmt: skip
    finally:
        ray.shutdown()  # the local instance this test started; later modules start their own
    out = tmp_path / "abl" / "ablate"
    stored = pd.read_parquet(out / "results.parquet")
    assert {"run", "seed", "eval_set", "tokens", "loss", "bits_per_byte"} <= set(stored.columns)
    assert stored["tokens"].nunique() == 1  # exactly the same training tokens for every model
    assert (out / "curves.png").stat().st_size > 0
    md = (out / "results.md").read_text()
    assert "| eval set | run |" in md and "## Verdict" in md
    by = results.set_index(["eval_set", "run"])["bits_per_byte"]
    real_name, noise_name = results["run"].unique()
    for eval_set in results["eval_set"].unique():
        assert by[(eval_set, noise_name)] > by[(eval_set, real_name)] + 0.1, eval_set
    if eval_texts:
        assert "valid" in set(results["eval_set"])
        assert "Reference text vs training data" in md


def test_local_engine_trains_without_ray(demo_run, tmp_path, monkeypatch):
    """`engine="local"`: the same plan and models through trainer.local, with Ray made unimportable; the
    results have the format of a Ray ablation (columns, results.md, curves, checkpoints per model)."""
    import sys

    real, _, _ = demo_run
    noise = _random_token_run(real, tmp_path / "noise")
    for name in [m for m in sys.modules if m == "ray" or m.startswith("ray.")] + ["ray"]:
        monkeypatch.setitem(sys.modules, name, None)  # `import ray` (or any ray.*) now raises ImportError
    results = run_ablation(
        [real, noise], tmp_path / "abl", cfg=_small_cfg(), preset="tiny", tokens=40 * 4 * 64, seeds=1,
        max_eval_bytes=60_000, engine="local",
    )  # fmt: skip
    out = tmp_path / "abl" / "ablate"
    stored = pd.read_parquet(out / "results.parquet")
    assert list(stored.columns) == [
        "run", "seed", "tokens", "eval_set", "loss", "bits_per_byte", "eval_bytes", "epochs", "repeated"
    ]  # fmt: skip
    assert stored["tokens"].nunique() == 1 and len(stored) == 2 * stored["eval_set"].nunique()
    assert (out / "curves.png").stat().st_size > 0 and "## Verdict" in (out / "results.md").read_text()
    for run_name in ("run-seed0", "noise-seed0"):
        assert list((out / "train" / run_name).glob("checkpoint_*/meta.json")), run_name
    by = results.set_index(["eval_set", "run"])["bits_per_byte"]
    for eval_set in results["eval_set"].unique():
        assert by[(eval_set, "noise")] > by[(eval_set, "run")] + 0.1, eval_set
    with pytest.raises(AblationError, match="engine 'spark'"):
        run_ablation([real, noise], tmp_path / "x", cfg=_small_cfg(), engine="spark")


def test_contamination_counts_eval_documents_sharing_13_words_with_training(tmp_path):
    """Through the decontam stage's index: 13 shared normalised words mark an eval document as seen, 12 do not;
    a run without documents has seen nothing."""
    words = [f"w{i}" for i in range(40)]
    seen = "Intro. " + " ".join(words[:13]).upper().replace(" ", " - ") + " tail"  # case, separators differ
    partial = " ".join(words[20:32]) + " then something else entirely"  # 12 words in common
    training = " ".join(words[:13]) + " filler " + " ".join(words[20:32])
    before_shards = stages.previous("shards")
    docs = layout.docs_dir(tmp_path / "a", before_shards)
    docs.mkdir(parents=True)
    pq.write_table(pa.table({"text": [training, None]}), docs / "part-0.parquet")
    plan = {"runs": [{"name": "a", "path": str(tmp_path / "a")}, {"name": "b", "path": str(tmp_path / "b")}]}
    eval_sets = [EvalSet("ext:x", [seen, partial, "unrelated words only"]), EvalSet("ext:y", [partial])]
    assert contamination(plan, eval_sets) == {"ext:x": {"a": 1, "b": 0}, "ext:y": {"a": 0, "b": 0}}


def test_variants_share_the_stages_before_the_varied_one(tmp_path):
    from pipeline import layout
    from trainer.variants import parse_vary, share_upstream, varied_stage

    assert parse_vary("quality.selection=none,threshold") == ("quality.selection", ["none", "threshold"])
    with pytest.raises(ValueError, match="at least two values"):
        parse_vary("quality.selection=none")
    assert varied_stage("quality.threshold") == "quality"
    assert varied_stage("mix.tokenizer.vocab_size") == "shards"
    assert varied_stage("filter.nsfw.url_words") == "extract"  # the URL pre-checks read it during extract
    assert varied_stage("spark.shuffle_partitions") == stages.NAMES[0]  # read by every stage: share nothing
    first, second = tmp_path / "a", tmp_path / "b"
    for stage in ("extract", "filter", "quality"):
        layout.docs_dir(first, stage).mkdir(parents=True)
        (layout.docs_dir(first, stage) / layout.SUCCESS).write_text("")
    assert share_upstream(first, second, "quality") == ["extract", "filter"]
    assert layout.stage_done(second, "filter") and not layout.stage_done(second, "quality")
