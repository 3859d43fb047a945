"""The reference language model for the perplexity signal: a word n-gram model, Kneser-Ney smoothed.

CCNet (Wenzek et al. 2020, section 3.3) scores every crawl document with a 5-gram KenLM model
trained on Wikipedia and buckets documents by that perplexity. KenLM on PyPI can query a model but
not build one, so the model here is built by our own numpy code: interpolated Kneser-Ney (Chen &
Goodman 1998, section 3.5) over the tokens of `classifiers.fasttext_text.fasttext_line` (lowercase,
digits -> 0, punctuation split off, as CCNet normalises before its LM), with one absolute discount
per order, D = n1 / (n1 + 2 n2). Words seen fewer than `min_count` times in training become `<unk>`,
so unknown words have a learned probability. BENCHMARKS.md ("Quality") says why this model and not
the project's GPT: the GPT scored ~100x fewer documents per second on a CPU core.

    p_k(w | h) = alpha_k(h, w) + gamma_k(h) * p_{k-1}(w | h minus its first word)
    alpha_k = max(c_k(h w) - D_k, 0) / c_k(h .)      gamma_k = D_k * N1+(h .) / c_k(h .)

c_k is the raw count at the highest order and the continuation count N1+(. h w) below it. A context
never seen has gamma = 1 (all of the lower order). Scoring is vectorised: every n-gram becomes one
integer key (ids in base V) looked up with `np.searchsorted` in sorted key arrays.

The file is a zip of .npy arrays (readable with `np.load`) written with fixed timestamps, so the
same training text gives the same bytes.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np

from classifiers.fasttext_text import DEFAULT_MAX_WORDS, fasttext_line

DEFAULT_LM = Path(__file__).resolve().parent / "models" / "reference_lm_wiki.npz"  # card: same name, .json
UNK, BOS = 0, 1  # token ids; words start at 2
FORMAT = "webdata-kn-lm-1"
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: byte-identical rebuilds


def resolve_lm_path(configured: str | None) -> Path:
    """The configured LM (`quality.perplexity.model`), or the shipped default when it is null."""
    path = Path(configured) if configured else DEFAULT_LM
    if not path.is_file():
        raise FileNotFoundError(
            f"reference LM not found: {path} (set quality.perplexity.model or rebuild it)"
        )
    return path.resolve()


def tokens(text: str | None, max_words: int) -> list[str]:
    return fasttext_line(text, max_words).split()


def _keys(ids: np.ndarray, starts: np.ndarray, k: int, base: int) -> np.ndarray:
    """Integer keys of the k-grams ending at positions `starts + k - 1` of `ids`."""
    key = np.zeros(len(starts), dtype=np.int64)
    for j in range(k):
        key = key * base + ids[starts + j]
    return key


def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray, default: float) -> np.ndarray:
    if len(keys) == 0:
        return np.full(len(query), default, dtype=np.float64)
    idx = np.minimum(np.searchsorted(keys, query), len(keys) - 1)
    return np.where(keys[idx] == query, values[idx].astype(np.float64), default)


class NgramLM:
    """A built model: `perplexity(texts)` gives per-token perplexity (NaN for a text with no tokens)."""

    def __init__(self, vocab: list[str], unigram: np.ndarray, levels: list[dict], meta: dict):
        self.vocab = {w: i for i, w in enumerate(vocab)}
        self.words = vocab
        self.unigram = unigram
        self.levels = levels  # order 2..n: gram keys/alpha, context keys/gamma
        self.meta = meta
        self.order = int(meta["order"])
        self.max_words = int(meta.get("max_words", DEFAULT_MAX_WORDS))

    # --- scoring ---------------------------------------------------------------------------------
    def _ids(self, text: str | None) -> list[int]:
        get = self.vocab.get
        return [get(w, UNK) for w in tokens(text, self.max_words)]

    def log_probs(self, ids: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Natural-log probability of ids[p] given the n-1 ids before it, for each p in `positions`."""
        base = len(self.words)
        prob = self.unigram[ids[positions]].astype(np.float64)
        for k, level in enumerate(self.levels, start=2):
            context = _keys(ids, positions - k + 1, k - 1, base)
            gram = context * base + ids[positions]
            alpha = _lookup(level["gram_keys"], level["alpha"], gram, 0.0)
            gamma = _lookup(level["context_keys"], level["gamma"], context, 1.0)
            prob = alpha + gamma * prob
        return np.log(prob)

    def perplexity(self, texts) -> np.ndarray:
        pad = self.order - 1
        seqs = [self._ids(t) for t in texts]
        lengths = np.array([len(s) for s in seqs], dtype=np.int64)
        out = np.full(len(seqs), np.nan)
        if lengths.sum() == 0:
            return out
        ids = np.array([i for s in seqs for i in [BOS] * pad + s], dtype=np.int64)
        starts = np.concatenate([[0], np.cumsum(lengths + pad)[:-1]])  # where each padded doc begins
        positions = np.concatenate([np.arange(s + pad, s + pad + n) for s, n in zip(starts, lengths)])
        logp = self.log_probs(ids, positions)
        doc = np.repeat(np.arange(len(seqs)), lengths)
        total = np.bincount(doc, weights=logp, minlength=len(seqs))
        has = lengths > 0
        out[has] = np.exp(-total[has] / lengths[has])
        return out

    # --- file ------------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        arrays = {"unigram": self.unigram}
        for k, level in enumerate(self.levels, start=2):
            arrays.update({f"{name}_{k}": arr for name, arr in level.items()})
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, payload in [
                ("meta.json", json.dumps(self.meta, sort_keys=True).encode()),
                ("vocab.txt", "\n".join(self.words).encode("utf-8")),
                *[(f"{n}.npy", _npy_bytes(a)) for n, a in sorted(arrays.items())],
            ]:
                zf.writestr(zipfile.ZipInfo(name, date_time=_ZIP_TIME), payload)

    @classmethod
    def load(cls, path: str | Path) -> NgramLM:
        """Read a model file; a missing or unreadable one raises with the path in the message."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"reference LM not found: {path}")
        try:
            with zipfile.ZipFile(path) as zf:
                meta = json.loads(zf.read("meta.json"))
                if meta.get("format") != FORMAT:
                    raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
                vocab = zf.read("vocab.txt").decode("utf-8").split("\n")
                arr = {n[:-4]: np.load(io.BytesIO(zf.read(n))) for n in zf.namelist() if n.endswith(".npy")}
            levels = [
                {name: arr[f"{name}_{k}"] for name in ("gram_keys", "alpha", "context_keys", "gamma")}
                for k in range(2, int(meta["order"]) + 1)
            ]
            return cls(vocab, arr["unigram"], levels, meta)
        except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as err:
            raise ValueError(f"reference LM {path} is not a readable model file: {err}") from None


def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


# --- building ----------------------------------------------------------------------------------
def _discount(counts: np.ndarray) -> float:
    n1, n2 = int((counts == 1).sum()), int((counts == 2).sum())
    return n1 / (n1 + 2 * n2) if n1 + n2 else 0.5


def _level(keys: np.ndarray, counts: np.ndarray, base: int, prune: int, raw: np.ndarray) -> dict:
    """alpha per kept gram and gamma per context for one order (keys sorted, counts aligned)."""
    d = _discount(counts)
    context = keys // base
    ctx_keys, ctx_index = np.unique(context, return_inverse=True)
    ctx_total = np.bincount(ctx_index, weights=counts)
    ctx_types = np.bincount(ctx_index)
    alpha = np.maximum(counts - d, 0.0) / ctx_total[ctx_index]
    # Count cut-off pruning (as KenLM's --prune): grams seen fewer than `prune` times in the raw
    # text are not stored; their alpha mass is lost (the model slightly under-predicts them).
    kept = raw >= prune
    return {
        "gram_keys": keys[kept],
        "alpha": alpha[kept].astype(np.float32),
        "context_keys": ctx_keys,
        "gamma": (d * ctx_types / ctx_total).astype(np.float32),
        "discount": d,
    }


def build_lm(texts, *, order: int = 3, min_count: int = 2, prune: int = 1, max_words: int = 10**9) -> NgramLM:
    """Build an interpolated Kneser-Ney model of `order` from `texts` (see the module docstring)."""
    if order < 2:
        raise ValueError("order must be >= 2")
    docs = [tokens(t, max_words) for t in texts]
    freq = Counter(w for d in docs for w in d)
    words = ["<unk>", "<s>"] + sorted(
        (w for w, c in freq.items() if c >= min_count), key=lambda w: (-freq[w], w)
    )
    vocab = {w: i for i, w in enumerate(words)}
    base = len(words)
    if base**order >= 2**62:
        raise ValueError(f"vocabulary of {base} words too large for order {order} integer keys")
    pad = order - 1
    ids = np.array([i for d in docs for i in [BOS] * pad + [vocab.get(w, UNK) for w in d]], dtype=np.int64)
    predicted = np.flatnonzero(ids != BOS)  # every word position (all have n-1 ids before them)

    # Highest order: raw counts. Each lower order: continuation counts N1+(. h w), the number of
    # distinct words seen before the gram (Kneser & Ney 1995), and the raw count for pruning.
    top_keys, top_counts = np.unique(_keys(ids, predicted - pad, order, base), return_counts=True)
    levels, keys, counts, raw = [], top_keys, top_counts.astype(np.float64), top_counts
    for k in range(order, 1, -1):
        levels.append(_level(keys, counts, base, prune if k == order else 1, raw))
        suffix = keys % base ** (k - 1)
        keys, counts = np.unique(suffix, return_counts=True)
        counts = counts.astype(np.float64)
        raw = counts
    # Unigram: continuation counts, discounted, interpolated with the uniform distribution.
    uni = np.zeros(base)
    uni[keys] = counts
    d1 = _discount(uni[uni > 0])
    unigram = np.maximum(uni - d1, 0) / uni.sum() + d1 * (uni > 0).sum() / uni.sum() / base
    levels.reverse()
    meta = {
        "format": FORMAT,
        "order": order,
        "min_count": min_count,
        "prune": prune,
        "discounts": [d1] + [lv.pop("discount") for lv in levels],
        "max_words": DEFAULT_MAX_WORDS,
        "vocab_size": base,
        "train_tokens": int(len(predicted)),
    }
    return NgramLM(words, unigram.astype(np.float32), levels, meta)
