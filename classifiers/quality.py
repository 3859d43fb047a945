"""The Wikipedia-reference quality classifier: training, scoring and document selection.

GPT-3 (Brown et al. 2020, appendix A) and LLaMA (Touvron et al. 2023, section 2) train a linear
classifier to tell reference-quality text (pages cited by Wikipedia, Wikipedia itself) from random
crawl pages, and keep crawl documents by its probability. Here the classifier is fastText
supervised (Joulin et al. 2017) over `classifiers.fasttext_text.fasttext_line`, and

    quality_score = P(label == positive | text)  in [0, 1].

Selection modes (config `quality.selection`):
- `threshold`    keep `quality_score >= threshold`;
- `top_fraction` keep the top `top_fraction` of documents by score (the caller passes the global
                 cut-off score, since a batch cannot know the corpus quantile);
- `pareto`       GPT-3: keep when `pareto(alpha) > 1 - quality_score`, alpha = 9, with the draw
                 seeded per document from (run seed, doc_id) so reruns keep the same documents;
- `none`         score only.
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

import numpy as np
import xxhash

from classifiers.fasttext_text import DEFAULT_MAX_WORDS, fasttext_line, labelled_line
from pipeline.config import default
from pipeline.files import sha256_file

DEFAULT_MODEL = Path(__file__).resolve().parent / "models" / "quality_wikiref.ftz"  # rebuild: see README
POSITIVE, NEGATIVE = "hq", "cc"  # fastText labels: reference-like text vs random crawl text
SELECTION_MODES = ("none", "threshold", "top_fraction", "pareto")
# fastText's hyper-parameters, under these names in `quality.train` (their defaults live there).
FASTTEXT_PARAMS = ("dim", "epoch", "lr", "wordNgrams", "minCount", "bucket")


def resolve_model_path(configured: str | None) -> Path:
    """The configured model (`quality.model`), or the shipped default when it is null."""
    path = Path(configured) if configured else DEFAULT_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"quality model not found: {path} (set quality.model or rebuild the default)")
    return path.resolve()


# --- metrics -----------------------------------------------------------------------------------
def roc_auc(labels, scores) -> float:
    """Area under the ROC curve (Mann-Whitney U with tied scores sharing ranks); NaN if one class."""
    from scipy.stats import rankdata

    labels = np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(np.asarray(scores, dtype=np.float64))
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def binary_metrics(labels, scores, threshold: float = 0.5) -> dict:
    labels = np.asarray(labels, dtype=bool)
    predicted = np.asarray(scores) >= threshold
    tp = int((predicted & labels).sum())
    precision = tp / max(1, int(predicted.sum()))
    recall = tp / max(1, int(labels.sum()))
    accuracy = float((predicted == labels).mean()) if len(labels) else float("nan")
    return {
        "precision": precision,
        "recall": recall,
        "accuracy": accuracy,
        "roc_auc": roc_auc(labels, scores),
    }


# --- the model -----------------------------------------------------------------------------------
class QualityModel:
    """A trained fastText quality model; `score(texts)` gives P(positive) as float32."""

    def __init__(self, path: str | Path, max_words: int = DEFAULT_MAX_WORDS):
        import fasttext

        self.path = str(path)
        self.max_words = max_words
        try:
            self.model = fasttext.load_model(self.path)
        except (ValueError, RuntimeError, MemoryError) as err:  # fastText's C++ errors, e.g. a truncated file
            raise ValueError(f"quality model {path} is not a readable fastText model: {err}") from None
        labels = self.model.get_labels()
        if f"__label__{POSITIVE}" not in labels:
            raise ValueError(f"{path}: not a quality model (labels {labels}, need __label__{POSITIVE})")

    def score(self, texts) -> np.ndarray:
        lines = [fasttext_line(t, self.max_words) for t in texts]
        if not lines:
            return np.zeros(0, dtype=np.float32)
        labels, probs = self.model.predict(lines, k=-1, threshold=0.0)
        positive = f"__label__{POSITIVE}"
        out = np.array(
            [dict(zip(ls, ps)).get(positive, 0.0) for ls, ps in zip(labels, probs)], dtype=np.float32
        )
        return np.clip(out, 0.0, 1.0)  # fastText's softmax can overshoot 1 by ~1e-5


def train_quality_model(
    positives: list[str],
    negatives: list[str],
    output: str | Path,
    *,
    seed: int = 0,
    valid_fraction: float | None = None,
    balance: bool = True,
    params: dict | None = None,
    max_words: int = DEFAULT_MAX_WORDS,
    thread: int = 1,
) -> dict:
    """Train, evaluate on a held-out split, save to `output` (`.ftz` = quantized), return a report.

    Empty texts are dropped. With `balance`, the larger class is down-sampled (seeded) to the size
    of the smaller one. `thread=1` with a fixed `seed` gives a byte-identical model on rerun.
    """
    import fasttext

    rng = random.Random(seed)
    pos = [t for t in positives if t and t.strip()]
    neg = [t for t in negatives if t and t.strip()]
    if not pos or not neg:
        raise ValueError(f"need both classes to train: {len(pos)} positives, {len(neg)} negatives")
    if balance:
        n = min(len(pos), len(neg))
        pos, neg = rng.sample(pos, n), rng.sample(neg, n)
    examples = [(POSITIVE, t) for t in pos] + [(NEGATIVE, t) for t in neg]
    rng.shuffle(examples)
    if valid_fraction is None:
        valid_fraction = default("quality.train.valid_fraction")
    n_valid = int(round(len(examples) * valid_fraction))
    valid, train = examples[:n_valid], examples[n_valid:]

    hyper = {**{key: default(f"quality.train.{key}") for key in FASTTEXT_PARAMS}, **(params or {})}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train_file = Path(tmp) / "train.txt"
        train_file.write_text("".join(labelled_line(lab, t, max_words) + "\n" for lab, t in train))
        model = fasttext.train_supervised(
            input=str(train_file), seed=seed, thread=thread, verbose=0, loss="softmax", **hyper
        )
    if output.suffix == ".ftz":
        # Product quantization only (no vocabulary cut-off), which needs no retraining data.
        model.quantize(qnorm=True, retrain=False, dsub=2, thread=thread)
    model.save_model(str(output))

    report = {
        "model": str(output),
        "sha256": sha256_file(output),
        "size_bytes": output.stat().st_size,
        "seed": seed,
        "params": hyper,
        "max_words": max_words,
        "n_train": len(train),
        "n_valid": len(valid),
        "n_positive": len(pos),
        "n_negative": len(neg),
    }
    if valid:
        scorer = QualityModel(output, max_words)
        scores = scorer.score([t for _, t in valid])
        report["heldout"] = binary_metrics([lab == POSITIVE for lab, _ in valid], scores)
    return report


def write_model_card(report: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")


# --- selection -----------------------------------------------------------------------------------
def doc_uniforms(doc_ids, seed: int) -> np.ndarray:
    """One uniform number in [0, 1) per document, a pure function of (seed, doc_id)."""
    # The top 53 bits of xxh64, so the float is exact and strictly below 1.
    return np.array(
        [(xxhash.xxh64_intdigest(f"{seed}:{d}".encode()) >> 11) / 2.0**53 for d in doc_ids], dtype=np.float64
    )


def pareto_draws(doc_ids, alpha: float, seed: int) -> np.ndarray:
    """Per-document draws distributed as `numpy.random.pareto(alpha)` (Lomax), seeded by doc_id.

    Inverse CDF of the Lomax distribution, F(x) = 1 - (1 + x)^-alpha, on the document's uniform.
    """
    u = doc_uniforms(doc_ids, seed)
    return (1.0 - u) ** (-1.0 / alpha) - 1.0


def select(scores, mode: str, *, threshold=None, cutoff=None, doc_ids=None, alpha=None, seed=0) -> np.ndarray:
    """Boolean keep-mask for `scores` under a selection mode (see the module docstring). `threshold` and
    `alpha` are `quality.threshold` / `quality.pareto_alpha`, needed by their modes (defaults in the YAML)."""
    scores = np.asarray(scores, dtype=np.float64)
    if mode == "none":
        return np.ones(len(scores), dtype=bool)
    if mode == "threshold":
        if threshold is None:
            raise ValueError("threshold selection needs quality.threshold")
        return scores >= threshold
    if mode == "top_fraction":
        if cutoff is None:
            raise ValueError("top_fraction selection needs the global cut-off score (quantile of all scores)")
        return scores >= cutoff
    if mode == "pareto":
        if doc_ids is None:
            raise ValueError("pareto selection needs doc_ids to seed each document's draw")
        if alpha is None:
            raise ValueError("pareto selection needs quality.pareto_alpha")
        return pareto_draws(doc_ids, alpha, seed) > 1.0 - scores
    raise ValueError(f"unknown selection mode {mode!r}; expected one of {SELECTION_MODES}")


def top_fraction_cutoff(scores, fraction: float) -> float:
    """The score at which the top `fraction` of `scores` begins (exact quantile, for small inputs)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0 or fraction <= 0:
        return float("inf")
    return float(np.quantile(scores, 1.0 - min(fraction, 1.0), method="higher"))
