"""Sentencepiece training and batch tokenisation, with real models trained here."""

from __future__ import annotations

import hashlib
import random

import pyarrow as pa
import pytest

from pipeline.config import load_config
from pipeline.shards.domains import DomainAssigner
from pipeline.shards.tokenize import (
    DEFAULT_PII_PLACEHOLDERS,
    encode_documents,
    load_processor,
    pii_placeholders,
    tokenize_array,
    train_tokenizer,
)

WORDS = "alpha beta gamma delta news model data token shard river 2024 value".split()


def corpus(n: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["\n".join(" ".join(rng.choice(WORDS) for _ in range(15)) for _ in range(3)) for _ in range(n)]


@pytest.fixture(scope="module", params=["bpe", "unigram"])
def model(request) -> bytes:
    return train_tokenizer(
        corpus(), {"type": request.param, "vocab_size": 300}, list(DEFAULT_PII_PLACEHOLDERS)
    )


def test_placeholders_are_single_tokens_and_text_round_trips(model):
    sp = load_processor(model)
    for symbol in DEFAULT_PII_PLACEHOLDERS:
        assert sp.piece_to_id(symbol) != sp.unk_id()
        assert symbol in sp.encode(f"mail {symbol} now", out_type=str)
    # Byte fallback + identity normalisation: unseen characters, newlines and runs of spaces survive.
    text = "Zürich  2024\n\n— 日本 <EMAIL>"
    assert sp.decode(sp.encode(text)) == text
    assert sp.unk_id() not in sp.encode(text)


def test_one_eos_per_document_and_arrow_column(model):
    sp = load_processor(model)
    texts = ["alpha beta", None, "gamma 12"]
    values, offsets = encode_documents(sp, texts, 1)
    docs = [values[offsets[i] : offsets[i + 1]].tolist() for i in range(3)]
    assert docs[0] == sp.encode("alpha beta") + [2] and docs[1] == [2]
    assert docs[2] == sp.encode("gamma 12") + [2]
    assert sp.encode("2024", out_type=str)[-4:] == ["2", "0", "2", "4"]  # split_digits
    column = tokenize_array(sp, pa.array(texts), 1)
    assert column.type == pa.list_(pa.int32()) and column.to_pylist() == docs


def test_training_is_deterministic():
    cfg = {"type": "bpe", "vocab_size": 320, "num_threads": 1}
    first = train_tokenizer(corpus(seed=1), cfg, ["<EMAIL>"])
    second = train_tokenizer(corpus(seed=1), cfg, ["<EMAIL>"])
    assert hashlib.sha256(first).digest() == hashlib.sha256(second).digest()
    assert first != train_tokenizer(corpus(seed=2), cfg, ["<EMAIL>"])


def test_placeholders_come_from_the_filter_config():
    assert pii_placeholders({}) == list(DEFAULT_PII_PLACEHOLDERS)
    assert pii_placeholders({"filter": {"pii": {"placeholders": {"email": "<MAIL>", "phone": "<TEL>"}}}}) == [
        "<MAIL>",
        "<TEL>",
    ]


def test_default_domain_rules():
    assigner = DomainAssigner(load_config()["mix"]["domains"])
    rows = [
        ("wikipedia.org", "https://en.wikipedia.org/wiki/River", "reference"),
        ("bbc.co.uk", "https://www.bbc.co.uk/sport/1", "news"),
        ("example.com", "https://news.example.com/a", "news"),
        ("stackexchange.com", "https://math.stackexchange.com/q/1", "qa"),
        ("github.com", "https://github.com/a/b", "code"),
        ("example.com", "https://example.com/forums/topic/9", "forum"),
        ("example.com", "https://example.com/2021/05/my-trip", "blog"),
        ("example.com", "https://example.com/products/lamp", "shop"),
        ("example.com", "https://example.com/about", "web"),
        (None, None, "web"),
    ]
    domain, source = assigner.assign(pa.array([r[0] for r in rows]), pa.array([r[1] for r in rows]))
    assert domain == [r[2] for r in rows]
    assert source[0] == "rule:0" and source[-1] == "default"
