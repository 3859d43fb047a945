"""The quality stage on Spark: Wikipedia-reference classifier scores, selection, and the hq set.

1. The model: `quality.model`, or the shipped default; or, when `quality.train.reference_urls` is
   set, one trained here from this run's documents (positives: documents whose normalised URL is
   cited by Wikipedia, found by a join; negatives: a seeded sample of the other documents, as many
   as there are positives) plus optional Wikipedia article text.
2. Pass 1 scores every document (mapInArrow) with the classifier and, when
   `quality.perplexity.enabled`, the reference LM, and keeps the scores in scratch space, so the
   models run once even when selection needs a global quantile.
3. The quantiles (`top_fraction` selection, `hq` top fraction, the perplexity bucket cuts) come
   from `approxQuantile` over the documents still in the running.
4. Pass 2 selects, marks `hq` and `ppl_bucket` (pipeline/quality/stage.py); `write_stage` writes
   kept, rejected (`quality.<rule>`) and stats. `OUT/quality_model.json` records the model paths,
   their sha256 and the cut values, for the shard manifest and the notebook.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from classifiers.ngram_lm import NgramLM, resolve_lm_path
from classifiers.quality import FASTTEXT_PARAMS, QualityModel, resolve_model_path, train_quality_model
from jobs.arrow_io import read_files, write_partitions
from jobs.frames import arrow_schema, read_parquet, with_url_norm
from jobs.output import write_stage
from jobs.rowwise import run_rowwise
from pipeline import layout, storage
from pipeline.files import sha256_file
from pipeline.quality.stage import QualityScorer, selection_rules
from pipeline.settings import QualitySettings, RunSettings

log = logging.getLogger(__name__)

QUANTILE_RELATIVE_ERROR = 1e-4  # approxQuantile: a cut-off within 0.01% of rank of the exact one


def check_models(cfg: dict[str, Any]) -> None:
    """Load the configured models once, so a missing or corrupt file fails before Spark starts.

    Raises FileNotFoundError / ValueError with a one-line message naming the file.
    """
    quality = QualitySettings.from_config(cfg)
    QualityModel(resolve_model_path(quality.model), quality.max_words)
    if quality.perplexity.enabled:
        NgramLM.load(resolve_lm_path(quality.perplexity.model))
    elif quality.max_perplexity is not None:
        raise ValueError("quality.max_perplexity is set but quality.perplexity.enabled is false")


def training_examples(spark, docs, cfg: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(positives, negatives): cited crawl documents vs an equal-sized seeded sample of the rest."""
    from pyspark.sql import functions as F

    train = QualitySettings.from_config(cfg).train
    seed = RunSettings.from_config(cfg).seed
    refs = spark.read.text(train.reference_urls).select(F.trim("value").alias("url_norm")).distinct()
    kept = docs.where(F.col("drop_reason").isNull() & F.col("text").isNotNull()).select(
        "doc_id", "url_norm", "text"
    )
    cited = kept.join(F.broadcast(refs), "url_norm", "left_semi")
    positives = [r["text"] for r in cited.orderBy("doc_id").collect()]
    if train.wikipedia:
        from classifiers.quality_data import read_texts

        positives += read_texts(train.wikipedia)
    # Seeded sample: order the uncited documents by a hash of (seed, doc_id) and take the first n.
    others = kept.join(F.broadcast(refs), "url_norm", "left_anti")
    ranked = others.withColumn("_rank", F.xxhash64(F.lit(seed), F.col("doc_id"))).orderBy("_rank", "doc_id")
    negatives = [r["text"] for r in ranked.limit(max(1, len(positives))).collect()]
    return positives, negatives


def resolve_model(spark, docs, cfg: dict[str, Any], out: str) -> tuple[dict[str, Any], Path]:
    """The record written to OUT/quality_model.json, and the local model file the tasks score with."""
    quality = QualitySettings.from_config(cfg)
    train = quality.train
    configured = resolve_model_path(quality.model)
    record: dict[str, Any] = {"trained_in_run": False}
    if train.reference_urls:
        positives, negatives = training_examples(spark, docs, cfg)
        if len(positives) >= train.min_positives:
            params = {k: getattr(train, k) for k in FASTTEXT_PARAMS}
            stored = layout.quality_model_file(out)
            report = train_quality_model(
                positives,
                negatives,
                stored if isinstance(stored, Path) else _driver_copy(stored),
                seed=RunSettings.from_config(cfg).seed,
                valid_fraction=train.valid_fraction,
                params=params,
                max_words=quality.max_words,
            )
            record.update(trained_in_run=True, training=report)
            configured = Path(report["model"]).resolve()
            if not isinstance(stored, Path):  # fastText saves local files: the driver's copy is uploaded
                storage.copy(configured, stored)
                record["path"] = str(stored)
        else:
            record["not_trained"] = (
                f"{len(positives)} positives < quality.train.min_positives={train.min_positives}"
            )
            log.warning("quality: %s; scoring with %s", record["not_trained"], configured)
    record.setdefault("path", str(configured))  # where the run's record points readers
    record["sha256"] = sha256_file(configured)
    return record, configured


def _driver_copy(stored: storage.Location) -> Path:
    """Where the driver keeps its copy of a model stored in an object store (one per location, replaced
    by the next run; the embedded engine's tasks load it from there)."""
    digest = hashlib.sha256(str(stored).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "webdata-models" / digest / stored.name


def run(spark, cfg: dict[str, Any], inp: str, out: str) -> list[dict]:
    q = cfg["quality"]  # the row-wise stage's own section, as it takes it
    quality = QualitySettings.from_config(cfg)
    docs = with_url_norm(read_parquet(spark, inp))
    model, model_file = resolve_model(spark, docs, cfg, out)
    stage_cfg = {
        **q,
        "model_path": str(model_file),
        "seed": RunSettings.from_config(cfg).seed,
        "lm_path": None,
    }
    stage_cfg.pop("train", None)
    if quality.perplexity.enabled:
        lm = resolve_lm_path(quality.perplexity.model)
        stage_cfg["lm_path"] = str(lm)
        model["perplexity"] = {"path": str(lm), "sha256": sha256_file(lm)}

    # Pass 1: score once, into scratch space (a rerun starts it afresh), written through pyarrow so
    # the scratch may be on an object store.
    scratch = layout.work_dir(out, "quality_scores")
    storage.rmtree(scratch)
    scoring = run_rowwise(docs, QualityScorer, {**stage_cfg, "score_only": True})
    scored = read_files(spark, write_partitions(scoring, scratch), arrow_schema(scoring))

    # The global cut-offs a batch cannot know: quantiles over the documents still in the running.
    wanted = {}
    if quality.selection == "top_fraction":
        wanted["score_cutoff"] = 1.0 - quality.top_fraction
    if quality.hq_mode in ("top_fraction", "either"):
        wanted["hq_cutoff"] = 1.0 - quality.hq_top_fraction
    if wanted:
        live = scored.where(scored["drop_reason"].isNull())
        cuts = live.approxQuantile("quality_score", list(wanted.values()), QUANTILE_RELATIVE_ERROR)
        # No documents: nothing to select, and no document can be in the top fraction.
        stage_cfg.update({k: (cuts[i] if cuts else float("inf")) for i, k in enumerate(wanted)})
    model.update({k: stage_cfg[k] for k in wanted})
    if stage_cfg["lm_path"]:
        percentiles = quality.perplexity.bucket_percentiles
        live = scored.where(scored["drop_reason"].isNull() & scored["perplexity"].isNotNull())
        cuts = live.approxQuantile("perplexity", list(percentiles), QUANTILE_RELATIVE_ERROR)
        # No scored documents: every cut is infinite, so any later document would be `head`.
        stage_cfg["ppl_cuts"] = cuts if cuts else [float("inf")] * len(percentiles)
        model["perplexity"]["bucket_cuts"] = dict(zip(("head", "middle"), stage_cfg["ppl_cuts"]))
        model["perplexity"]["bucket_percentiles"] = list(percentiles)

    selected = run_rowwise(scored, QualityScorer, stage_cfg)
    # The record goes first: once write_stage marks the stage done, a rerun skips this function.
    storage.path(out).mkdir(parents=True, exist_ok=True)
    layout.quality_model_record(out).write_text(
        json.dumps(model, indent=2, sort_keys=True, default=str) + "\n"
    )
    stats = write_stage(selected, out, "quality", rules=selection_rules(q))
    storage.rmtree(scratch)
    return stats
