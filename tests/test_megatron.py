"""Megatron MMIDIDX v1 shards: our writer checked by an independent parser written here with `struct`.

The expected layout is Megatron-LM's `_IndexWriter` (megatron/core/datasets/indexed_dataset.py):
magic, version, dtype code, sequence count, document-index count (documents + 1), then int32
lengths, int64 byte pointers and int64 document indices, all little-endian.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from pipeline.shards.megatron import IndexedDataset, IndexedDatasetWriter, token_dtype
from pipeline.shards.writer import ShardSetWriter

ITEMSIZE_BY_CODE = {4: ("i", 4), 8: ("H", 2)}  # the two token dtypes we write: int32, uint16


def parse_megatron(prefix: str) -> list[list[int]]:
    """Read a .idx/.bin pair with nothing but `struct`; returns the token list of every document."""
    with open(prefix + ".idx", "rb") as f:
        idx = f.read()
    assert idx[:9] == b"MMIDIDX\x00\x00"
    version, code, n_seq, n_doc_idx = struct.unpack_from("<QBQQ", idx, 9)
    assert version == 1
    fmt, size = ITEMSIZE_BY_CODE[code]
    pos = 34
    lengths = struct.unpack_from(f"<{n_seq}i", idx, pos)
    pos += 4 * n_seq
    pointers = struct.unpack_from(f"<{n_seq}q", idx, pos)
    pos += 8 * n_seq
    doc_idx = struct.unpack_from(f"<{n_doc_idx}q", idx, pos)
    pos += 8 * n_doc_idx
    assert pos == len(idx), "trailing bytes in the index"
    assert doc_idx[0] == 0 and doc_idx[-1] == n_seq and list(doc_idx) == sorted(doc_idx)
    with open(prefix + ".bin", "rb") as f:
        data = f.read()
    assert sum(lengths) * size == len(data)
    docs = []
    for d in range(n_doc_idx - 1):
        tokens: list[int] = []
        for s in range(doc_idx[d], doc_idx[d + 1]):
            tokens += struct.unpack_from(f"<{lengths[s]}{fmt}", data, pointers[s])
        docs.append(tokens)
    return docs


@pytest.mark.parametrize("dtype, high", [(np.uint16, 65_499), (np.int32, 200_000)])
def test_written_tokens_read_back_exactly(tmp_path, dtype, high):
    rng = np.random.default_rng(0)
    docs = [rng.integers(0, high, size=n) for n in (5, 0, 1, 300, 17)]
    prefix = str(tmp_path / "shard")
    with IndexedDatasetWriter(prefix, dtype) as writer:
        for doc in docs:
            writer.add_document(doc)
    assert parse_megatron(prefix) == [d.tolist() for d in docs]
    ds = IndexedDataset(prefix)
    assert ds.dtype == np.dtype(dtype) and len(ds) == ds.num_documents == 5
    assert ds.sizes.tolist() == [5, 0, 1, 300, 17]
    assert [ds[i].tolist() for i in range(5)] == [d.tolist() for d in docs]


def test_header_golden_bytes(tmp_path):
    prefix = str(tmp_path / "tiny")
    with IndexedDatasetWriter(prefix, np.uint16) as writer:
        writer.add_document([7, 8, 2])
        writer.add_document([9, 2])
    expected = (
        b"MMIDIDX\x00\x00"
        + (1).to_bytes(8, "little")  # version
        + bytes([8])  # Megatron's code for uint16
        + (2).to_bytes(8, "little")  # sequences
        + (3).to_bytes(8, "little")  # document indices: documents + 1
        + struct.pack("<2i", 3, 2)  # lengths
        + struct.pack("<2q", 0, 6)  # byte pointers: 3 uint16 tokens = 6 bytes
        + struct.pack("<3q", 0, 1, 2)  # document indices
    )
    assert open(prefix + ".idx", "rb").read() == expected
    assert open(prefix + ".bin", "rb").read() == struct.pack("<5H", 7, 8, 2, 9, 2)


def test_token_dtype_follows_vocab_and_rejects_overflow(tmp_path):
    assert token_dtype(32_000) == np.uint16 and token_dtype(70_000) == np.int32
    writer = IndexedDatasetWriter(str(tmp_path / "x"), np.uint16)
    with pytest.raises(ValueError, match="out of range"):
        writer.add_document([70_000])


def test_reader_rejects_a_foreign_index(tmp_path):
    (tmp_path / "bad.idx").write_bytes(b"TNTIDX\x00\x00" + bytes(40))
    (tmp_path / "bad.bin").write_bytes(b"")
    with pytest.raises(ValueError, match="MMIDIDX"):
        IndexedDataset(str(tmp_path / "bad"))


def test_shard_set_writer_caps_size_and_never_splits_a_document(tmp_path):
    docs = [np.full(n, i, dtype=np.uint16) for i, n in enumerate([40, 50, 30, 120, 10])]
    writer = ShardSetWriter(tmp_path, "train", "news", np.uint16, max_shard_tokens=100)
    for doc in docs:
        writer.add_document(doc)
    entries = writer.close()
    # 40+50 fit; +30 would pass 100; 30 alone; 120 is over the cap so it gets a shard of its own; 10.
    assert [e["tokens"] for e in entries] == [90, 30, 120, 10]
    assert [e["prefix"] for e in entries][:2] == ["train/news/news_00000", "train/news/news_00001"]
    back = [doc for e in entries for doc in parse_megatron(str(tmp_path / e["prefix"]))]
    assert back == [d.tolist() for d in docs]


def test_documents_added_in_runs_are_cut_and_written_as_one_at_a_time(tmp_path):
    """The stage hands the writer runs of documents; the shards must equal those of a per-document
    loop, whatever the runs' boundaries (documents over the cap, runs that straddle a cut)."""
    rng = np.random.default_rng(7)
    lengths = rng.integers(1, 60, size=300)
    lengths[[5, 77, 78, 200]] = [150, 101, 100, 250]  # over, just over, exactly at the cap
    values = rng.integers(0, 60000, size=int(lengths.sum())).astype(np.uint16)
    ends = np.cumsum(lengths)
    one_by_one = ShardSetWriter(tmp_path / "a", "train", "web", np.uint16, max_shard_tokens=100)
    for end, n in zip(ends, lengths):
        one_by_one.add_document(values[end - n : end])
    in_runs = ShardSetWriter(tmp_path / "b", "train", "web", np.uint16, max_shard_tokens=100)
    cuts = [0, 1, 2, 40, 77, 79, 150, 151, 300]
    for a, b in zip(cuts, cuts[1:]):
        start = int(ends[a - 1]) if a else 0
        in_runs.add_documents(values[start : ends[b - 1]], lengths[a:b])
    expected, got = one_by_one.close(), in_runs.close()
    assert len(expected) > 10 and got == expected  # same cuts, same bytes (the entries hold sha256s)
