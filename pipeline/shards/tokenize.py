"""Sentencepiece tokenizer: training arguments, in-memory training, batch tokenisation.

Training happens in memory (`sentence_iterator` in, `model_writer` out) so the serialized model
holds no file paths and the same sample + config give a byte-identical model (checked in
tests/test_tokenize.py; the trainer spec, num_threads included, is stored inside the model, so a
different thread count gives a different file).

Settings follow LLaMA (Touvron et al. 2023): BPE, digits split, byte fallback so nothing maps to
<unk>, identity normalisation, whitespace kept verbatim. The PII placeholders of the filter stage are
user-defined symbols, so `<EMAIL>` is one token rather than six.

Each document is encoded as its pieces followed by exactly one EOS (`eos_id`, 2 by default).
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import sentencepiece as spm

from pipeline.config import default
from pipeline.filters.pii import PiiSettings
from pipeline.settings import TokenizerSettings

DEFAULT_PII_PLACEHOLDERS = tuple(default("filter.pii.placeholders").values())  # configs/default.yaml
UNK_ID, BOS_ID, EOS_ID = 0, 1, 2  # sentencepiece defaults; no padding id (the trainer packs sequences)


def pii_placeholders(cfg: dict[str, Any]) -> list[str]:
    """`filter.pii.placeholders` (owned by the filter stage; a list, or a {kind: placeholder} mapping),
    or the defaults."""
    found = PiiSettings.from_config(cfg).placeholders if isinstance(cfg, dict) else None
    if isinstance(found, Mapping):
        found = list(found.values())
    symbols = [str(s) for s in found] if found else list(DEFAULT_PII_PLACEHOLDERS)
    return list(dict.fromkeys(symbols))  # unique, order kept


def trainer_args(tok_cfg: dict[str, Any], user_defined_symbols: list[str]) -> dict[str, Any]:
    """Keyword arguments for `SentencePieceTrainer.train` from the `mix.tokenizer` config section."""
    tok = TokenizerSettings.from_section(tok_cfg)
    model_type = tok.type
    if model_type not in ("bpe", "unigram"):
        raise ValueError(f"mix.tokenizer.type: expected bpe or unigram, got {model_type!r}")
    return {
        "model_type": model_type,
        "vocab_size": int(tok.vocab_size),
        # A small sample may not support the requested size; let training stop short of it instead of failing.
        "hard_vocab_limit": False,
        "byte_fallback": bool(tok.byte_fallback),
        "split_digits": bool(tok.split_digits),
        "character_coverage": float(tok.character_coverage),
        "normalization_rule_name": tok.normalization,
        "remove_extra_whitespaces": False,
        "allow_whitespace_only_pieces": True,
        "max_sentence_length": int(tok.max_sentence_length),
        "num_threads": int(tok.num_threads),
        "user_defined_symbols": list(user_defined_symbols),
        "unk_id": UNK_ID,
        "bos_id": BOS_ID,
        "eos_id": EOS_ID,
        "pad_id": -1,
        "input_sentence_size": 0,  # use every line given: the sample is already drawn (seeded) upstream
        "shuffle_input_sentence": False,
        "minloglevel": 2,
    }


def training_lines(texts: Iterable[str | None]) -> Iterator[str]:
    """Non-blank lines of the sample documents: sentencepiece trains on one sentence per input."""
    for text in texts:
        for line in (text or "").split("\n"):
            if line.strip():
                yield line


def train_tokenizer(
    texts: Iterable[str | None], tok_cfg: dict[str, Any], user_defined_symbols: list[str]
) -> bytes:
    """Train on the given documents; returns the serialized model (write it to `<name>.model`)."""
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=training_lines(texts),
        model_writer=buffer,
        **trainer_args(tok_cfg, user_defined_symbols),
    )
    return buffer.getvalue()


def load_processor(model: bytes | str) -> spm.SentencePieceProcessor:
    """A processor from serialized model bytes or a `.model` path."""
    if isinstance(model, (bytes, bytearray)):
        return spm.SentencePieceProcessor(model_proto=bytes(model))
    return spm.SentencePieceProcessor(model_file=str(model))


def encode_documents(
    sp: spm.SentencePieceProcessor, texts: list[str | None], num_threads: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids of each document followed by one EOS, flattened: (values int32, offsets int64).

    Document i is `values[offsets[i]:offsets[i + 1]]`. A null text encodes as the lone EOS.
    """
    eos = sp.eos_id()
    ids = sp.encode([t or "" for t in texts], out_type=int, num_threads=num_threads)
    lengths = np.fromiter((len(doc) + 1 for doc in ids), dtype=np.int64, count=len(ids))
    offsets = np.zeros(len(ids) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = np.empty(int(offsets[-1]), dtype=np.int32)
    for i, doc in enumerate(ids):
        start, end = offsets[i], offsets[i + 1]
        values[start : end - 1] = doc
        values[end - 1] = eos
    return values, offsets


def tokenize_array(sp: spm.SentencePieceProcessor, texts: pa.Array, num_threads: int) -> pa.ListArray:
    """Arrow list<int32> column of token ids (EOS-terminated) for an Arrow string column.

    32-bit list offsets (what Spark's ArrayType maps to) hold 2^31 tokens per batch, far above any
    batch of `spark.arrow_batch_rows` documents."""
    values, offsets = encode_documents(sp, texts.to_pylist(), num_threads)
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)), pa.array(values, pa.int32()))
