"""The quality stage's pure part: score documents with the Wikipedia-reference classifier and the
reference language model (perplexity, CCNet), select, and mark the high-quality set used by the
trainer's anneal phase.

Config: the `quality:` section of configs/default.yaml, plus values only the engine can know,
filled in by `jobs/quality.py` before the stage is built:

- `model_path`   the resolved model file (the configured `model`, the shipped default, or the
                 model trained in this run);
- `seed`         the run seed (`run.seed`), which seeds the per-document Pareto draws;
- `score_cutoff` the global score quantile for `selection: top_fraction`;
- `hq_cutoff`    the global score quantile for `hq_mode: top_fraction` / `either`;
- `lm_path`      the resolved reference LM file, or null when `perplexity.enabled` is false;
- `ppl_cuts`     the perplexity values at the `perplexity.bucket_percentiles` of this run's documents;
- `score_only`   only add `quality_score` and `perplexity` (first pass, before the quantiles are known).

Rows that arrive with a `quality_score` (or `perplexity`) are not scored again, so the two passes
score once. `ppl_bucket` is CCNet's (Wenzek et al. 2020, section 3.3): `head` up to the 30th
percentile of perplexity, `middle` up to the 60th, `tail` above it, and `tail` for a document with
no tokens to score.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from classifiers.ngram_lm import NgramLM
from classifiers.quality import QualityModel, select
from pipeline.rules import Rule
from pipeline.schema import set_column
from pipeline.settings import QualitySettings
from pipeline.stage import Stage, first_failure
from pipeline.urls import parent_domains, url_host

HQ_MODES = ("top_fraction", "domains", "either")
# The one selection mode with a fixed threshold on a stored signal. `top_fraction` cuts at a
# quantile found at run time (recorded in OUT/quality_model.json) and `pareto` is a seeded draw.
THRESHOLD_RULE = Rule(
    "quality",
    "threshold",
    "quality.threshold",
    ">=",
    "quality_score",
    'LLaMA (Touvron et al. 2023) §2: discard pages "not classified as references"',
)
# CCNet keeps buckets rather than cutting (Wenzek et al. 2020 sec. 3.3); a maximum is here for runs
# that measure one worth having. Off (null) by default: perplexity does not beat length (BENCHMARKS.md).
MAX_PERPLEXITY_RULE = Rule(
    "quality",
    "max_perplexity",
    "quality.max_perplexity",
    "<=",
    "perplexity",
    "CCNet (Wenzek et al. 2020) §3.3 perplexity of a Wikipedia LM; off by default (BENCHMARKS.md)",
)
PPL_BUCKETS = ("head", "middle", "tail")


def selection_rules(q: dict) -> tuple[str, ...]:
    """The rules the stage applies: the `quality.selection` mode (none for "none"), then
    `max_perplexity` when it is set."""
    settings = QualitySettings.from_section(q)
    selection = () if settings.selection == "none" else (settings.selection,)
    return selection + (("max_perplexity",) if settings.max_perplexity is not None else ())


@lru_cache(maxsize=4)
def _model(path: str, max_words: int) -> QualityModel:
    return QualityModel(path, max_words)


@lru_cache(maxsize=4)
def _lm(path: str) -> NgramLM:
    return NgramLM.load(path)


def ppl_buckets(perplexity: np.ndarray, cuts: list[float]) -> list[str]:
    """`head` / `middle` / `tail` by the two cut values; NaN (nothing scored) is `tail`."""
    idx = np.searchsorted(np.asarray(cuts, dtype=np.float64), perplexity, side="left")
    idx[np.isnan(perplexity)] = len(PPL_BUCKETS) - 1
    return [PPL_BUCKETS[i] for i in idx]


def load_domains(domains: list[str] | None, domains_file: str | None) -> frozenset[str]:
    """The reference-like domains: the configured list plus a file with one domain per line."""
    out = {d.strip().lower() for d in domains or [] if d.strip()}
    if domains_file:
        for line in Path(domains_file).read_text().splitlines():
            line = line.split("#", 1)[0].strip().lower()
            if line:
                out.add(line.split()[0])
    return frozenset(out)


def host_matches(urls, hosts, domains: frozenset[str]) -> np.ndarray:
    """True where the URL's host, or any parent domain of it, or the registered `host` is listed."""
    if not domains:
        return np.zeros(len(urls), dtype=bool)
    out = []
    for url, host in zip(urls, hosts):
        full = url_host(url) or host or ""
        out.append(bool(full) and (host in domains or any(p in domains for p in parent_domains(full))))
    return np.array(out, dtype=bool)


class QualityScorer(Stage):
    name = "quality"
    # At most one selection rule is active (`selection`), then `max_perplexity` when it is set.
    rules = ("threshold", "top_fraction", "pareto", "max_perplexity")
    signals = (
        pa.field("quality_score", pa.float32()),
        pa.field("hq", pa.bool_()),
        pa.field("perplexity", pa.float32()),
        pa.field("ppl_bucket", pa.string()),
    )

    def __init__(self, cfg):
        super().__init__(cfg)
        self.settings = QualitySettings.from_section(cfg)
        self.selection = self.settings.selection
        self.max_perplexity = self.settings.max_perplexity
        self.rules = selection_rules(cfg)
        if self.max_perplexity is not None and not cfg.get("lm_path"):
            raise ValueError("quality.max_perplexity needs quality.perplexity.enabled: true")
        self.hq_mode = self.settings.hq_mode
        if self.hq_mode not in HQ_MODES:
            raise ValueError(f"quality.hq_mode: expected one of {HQ_MODES}, got {self.hq_mode!r}")
        self.domains = load_domains(self.settings.hq_domains, self.settings.hq_domains_file)
        self.max_words = int(self.settings.max_words)

    def score(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Add `quality_score` to rows that have none (every row on a first pass)."""
        idx = batch.schema.get_field_index("quality_score")
        existing = batch.column(idx) if idx >= 0 else pa.nulls(batch.num_rows, pa.float32())
        todo = np.flatnonzero(pc.is_null(existing).to_numpy(zero_copy_only=False))
        if len(todo) == 0:
            return set_column(batch, "quality_score", existing, pa.float32())
        scores = existing.cast(pa.float32()).to_numpy(zero_copy_only=False).astype(np.float32)
        texts = batch.column("text").take(pa.array(todo)).to_pylist()
        scores[todo] = _model(self.cfg["model_path"], self.max_words).score(texts)
        return set_column(batch, "quality_score", pa.array(scores, pa.float32()))

    def perplexity(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Add `perplexity` (per token of the reference LM) to rows that have none; null when off."""
        idx = batch.schema.get_field_index("perplexity")
        existing = batch.column(idx) if idx >= 0 else pa.nulls(batch.num_rows, pa.float32())
        if not self.cfg.get("lm_path"):
            return set_column(batch, "perplexity", existing, pa.float32())
        todo = np.flatnonzero(pc.is_null(existing).to_numpy(zero_copy_only=False))
        values = existing.cast(pa.float32()).to_numpy(zero_copy_only=False).astype(np.float64)
        if len(todo):
            values[todo] = _lm(self.cfg["lm_path"]).perplexity(
                batch.column("text").take(pa.array(todo)).to_pylist()
            )
        # A document with no tokens has no perplexity: NaN in numpy, null in the table.
        return set_column(batch, "perplexity", pa.array(values, pa.float32(), from_pandas=True))

    def hq(self, batch: pa.RecordBatch, scores: np.ndarray) -> np.ndarray:
        by_score = np.zeros(len(scores), dtype=bool)
        if self.hq_mode in ("top_fraction", "either"):
            cutoff = self.cfg.get("hq_cutoff")
            if cutoff is None:
                raise ValueError("hq_mode top_fraction needs hq_cutoff, the global score quantile")
            by_score = scores >= cutoff
        by_domain = np.zeros(len(scores), dtype=bool)
        if self.hq_mode in ("domains", "either"):
            names = batch.schema.names
            urls = batch.column("url_norm").to_pylist() if "url_norm" in names else [None] * len(scores)
            hosts = batch.column("host").to_pylist() if "host" in batch.schema.names else [None] * len(scores)
            by_domain = host_matches(urls, hosts, self.domains)
        return by_score | by_domain

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        batch = self.perplexity(self.score(batch))
        if self.cfg.get("score_only"):
            return batch
        scores = batch.column("quality_score").to_numpy(zero_copy_only=False).astype(np.float64)
        batch = set_column(batch, "hq", pa.array(self.hq(batch, scores), pa.bool_()))
        ppl = batch.column("perplexity").to_numpy(zero_copy_only=False).astype(np.float64)
        if self.cfg.get("lm_path"):
            cuts = self.cfg.get("ppl_cuts")
            if cuts is None:
                raise ValueError("perplexity buckets need ppl_cuts, the global perplexity percentiles")
            batch = set_column(batch, "ppl_bucket", ppl_buckets(ppl, cuts), pa.string())
        failures = []
        if self.selection != "none":
            failures.append((self.selection, ~self.keep_by_score(batch, scores)))
        if (
            self.max_perplexity is not None
        ):  # a document with no tokens (NaN) is not judged, as in re-thresholding
            failures.append(("max_perplexity", MAX_PERPLEXITY_RULE.fails(ppl, self.max_perplexity)))
        return first_failure(batch, self.name, [(rule, list(failed)) for rule, failed in failures])

    def keep_by_score(self, batch: pa.RecordBatch, scores: np.ndarray) -> np.ndarray:
        return select(
            scores,
            self.selection,
            threshold=self.settings.threshold,
            cutoff=self.cfg.get("score_cutoff"),
            doc_ids=batch.column("doc_id").to_pylist() if self.selection == "pareto" else None,
            alpha=self.settings.pareto_alpha,
            seed=int(self.cfg["seed"]),
        )
