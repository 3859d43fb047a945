"""Held-out evaluation for data ablations: loss in bits per byte of the original text.

Runs with different tokenizers cannot be compared by loss per token (a tokenizer that cuts text into more,
easier tokens lowers the per-token loss without a better model). Bits per byte can: the total loss over
every token of a text, in bits, divided by the text's UTF-8 bytes (as in The Pile, Gao et al. 2020, and
the GPT-2/Chinchilla byte-level comparisons). Every eval set is therefore kept as plain text and tokenized
with each model's own tokenizer; a run's validation shards are decoded back to text first.

An eval set is a list of documents. Each document is encoded, followed by EOS (the model is trained to
predict the end of a document too), and the documents are packed into one stream that is scored in
non-overlapping windows of the model's context length: every token is predicted exactly once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from pipeline import layout
from pipeline.shards.tokenize import EOS_ID
from trainer.data import load_manifest, sources_by_split

DEFAULT_MAX_EVAL_BYTES = 400_000  # per eval set: enough documents for a stable mean, fast on a CPU
WIKITEXT_MARKS = re.compile(r" @[-,.]@ |<unk>")  # WikiText's in-word marks: a file in its tokenized form


@dataclass
class EvalSet:
    name: str
    documents: list[str]

    @property
    def bytes(self) -> int:
        return sum(len(d.encode("utf-8")) for d in self.documents)


def _capped(documents, max_bytes: int) -> list[str]:
    kept, total = [], 0
    for doc in documents:
        if not doc.strip():
            continue
        kept.append(doc)
        total += len(doc.encode("utf-8"))
        if total >= max_bytes:
            break
    return kept


def text_file_documents(path: str | Path) -> list[str]:
    """Documents of a plain-text eval file: WikiText articles (detokenized) or blank-line paragraphs."""
    from classifiers.wikitext import wikitext_articles

    text = Path(path).read_text(encoding="utf-8")
    if WIKITEXT_MARKS.search(text):
        return wikitext_articles(path)
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def text_eval_set(path: str | Path, max_bytes: int = DEFAULT_MAX_EVAL_BYTES) -> EvalSet:
    return EvalSet(Path(path).stem, _capped(text_file_documents(path), max_bytes))


def validation_eval_set(run_dir: str | Path, name: str, max_bytes: int = DEFAULT_MAX_EVAL_BYTES) -> EvalSet:
    """A run's `val` shards decoded back to text with the run's own tokenizer."""
    shards_dir = layout.shards_dir(run_dir)
    manifest = load_manifest(shards_dir)
    sp = load_tokenizer(run_dir)

    def documents():
        for source in sources_by_split(shards_dir, manifest, "val").values():
            for i in range(len(source)):
                ids = np.asarray(source.document(i), dtype=np.int64).tolist()
                yield sp.decode([t for t in ids if t != EOS_ID])

    return EvalSet(f"val:{name}", _capped(documents(), max_bytes))


def load_tokenizer(run_dir: str | Path):
    import sentencepiece as spm

    shards_dir = layout.shards_dir(run_dir)
    path = shards_dir / load_manifest(shards_dir)["tokenizer"]["path"]
    return spm.SentencePieceProcessor(model_file=str(path))


@torch.no_grad()
def bits_per_byte(model, sp, eval_set: EvalSet, batch_windows: int = 16) -> tuple[float, float]:
    """(mean loss in nats per token, bits per byte of the eval set's text) for one model."""
    model.eval()
    seq_len = model.cfg.seq_len
    stream: list[int] = []
    for doc in eval_set.documents:
        stream.extend(sp.encode(doc))
        stream.append(EOS_ID)
    tokens = torch.tensor(stream, dtype=torch.long)
    total_nats, predicted = 0.0, 0
    starts = list(range(0, len(tokens) - 1, seq_len))
    for i in range(0, len(starts), batch_windows):
        # windows of equal length batch together; the last, shorter window of the stream goes alone
        group = starts[i : i + batch_windows]
        for length in sorted({min(seq_len, len(tokens) - 1 - s) for s in group}):
            same = [s for s in group if min(seq_len, len(tokens) - 1 - s) == length]
            x = torch.stack([tokens[s : s + length] for s in same])
            y = torch.stack([tokens[s + 1 : s + 1 + length] for s in same])
            logits, _ = model(x)
            total_nats += F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), y.reshape(-1), reduction="sum"
            ).item()
            predicted += y.numel()
    return total_nats / predicted, total_nats / math.log(2) / eval_set.bytes
