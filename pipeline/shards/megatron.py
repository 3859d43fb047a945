"""Megatron-LM indexed datasets: the `MMIDIDX` version-1 `.idx` + `.bin` pair.

Format facts (from Megatron-LM `megatron/core/datasets/indexed_dataset.py`, `_IndexWriter`/`_IndexReader`),
all little-endian:

    .bin  the tokens of every sequence, back to back, in the dataset dtype
    .idx  b"MMIDIDX\\x00\\x00"        9-byte magic
          uint64 version = 1
          uint8  dtype code            (DTYPE_CODES below)
          uint64 sequence_count        S
          uint64 document_count        D + 1, i.e. len(document_indices), NOT the number of documents
          int32[S] sequence lengths    in tokens
          int64[S] sequence pointers   byte offsets of each sequence in .bin
          int64[D+1] document indices  sequence index where each document starts, first 0, last S

We write one sequence per document (what Megatron's `preprocess_data.py` does without sentence
splitting), so sequence i is document i and document_indices = [0, 1, ..., S].
"""

from __future__ import annotations

import os
import struct

import numpy as np

INDEX_MAGIC = b"MMIDIDX\x00\x00"
INDEX_VERSION = 1
# Megatron's DType enum: the code written in the header for each numpy dtype.
DTYPE_CODES = {
    np.dtype(np.uint8): 1,
    np.dtype(np.int8): 2,
    np.dtype(np.int16): 3,
    np.dtype(np.int32): 4,
    np.dtype(np.int64): 5,
    np.dtype(np.float64): 6,
    np.dtype(np.float32): 7,
    np.dtype(np.uint16): 8,
}
CODE_DTYPES = {code: dtype for dtype, code in DTYPE_CODES.items()}
HEADER_BYTES = len(INDEX_MAGIC) + 8 + 1 + 8 + 8  # 34


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (Megatron's `optimal_dtype` uses the same < 65500 cut), else int32."""
    return np.dtype(np.uint16) if vocab_size < 65500 else np.dtype(np.int32)


def idx_path(prefix: str | os.PathLike) -> str:
    return os.fspath(prefix) + ".idx"


def bin_path(prefix: str | os.PathLike) -> str:
    return os.fspath(prefix) + ".bin"


class IndexedDatasetWriter:
    """Streams documents into `<prefix>.bin`; `finalize()` writes `<prefix>.idx`.

    Memory holds only one int per document (its length), so shards of any size stream through.
    """

    def __init__(self, prefix: str | os.PathLike, dtype: np.dtype | type | str = np.uint16):
        self.prefix = os.fspath(prefix)
        self.dtype = np.dtype(dtype)
        if self.dtype not in DTYPE_CODES:
            raise ValueError(f"dtype {self.dtype} has no Megatron code")
        self._lengths: list[int] = []
        self._num_tokens = 0  # kept as documents arrive: summing the lengths per document was quadratic
        self._bin = open(bin_path(self.prefix), "wb")
        self._finalized = False

    def add_document(self, tokens) -> None:
        array = np.asarray(tokens)
        if array.ndim != 1:
            raise ValueError("a document is a 1-D array of token ids")
        self.add_documents(array, np.array([array.size], dtype=np.int64))

    def add_documents(self, values: np.ndarray, lengths: np.ndarray) -> None:
        """Documents given back to back: document i is the next `lengths[i]` ids of `values`. One range
        check and one write for the lot (a per-document loop was the shards stage's driver cost)."""
        values, lengths = np.asarray(values), np.asarray(lengths, dtype=np.int64)
        if values.ndim != 1 or int(lengths.sum()) != values.size:
            raise ValueError("documents are a 1-D array of token ids and lengths that sum to its size")
        if values.size and np.issubdtype(values.dtype, np.integer) and np.issubdtype(self.dtype, np.integer):
            info = np.iinfo(self.dtype)
            if values.min() < info.min or values.max() > info.max:
                raise ValueError(f"token ids out of range for {self.dtype}")
        self._bin.write(np.ascontiguousarray(values, dtype=self.dtype).tobytes())
        self._lengths.extend(lengths.tolist())
        self._num_tokens += int(values.size)

    @property
    def num_documents(self) -> int:
        return len(self._lengths)

    @property
    def num_tokens(self) -> int:
        return self._num_tokens

    def finalize(self) -> None:
        if self._finalized:
            return
        self._bin.close()
        lengths = np.asarray(self._lengths, dtype=np.int64)
        pointers = np.zeros(len(lengths), dtype=np.int64)
        if len(lengths) > 1:
            pointers[1:] = np.cumsum(lengths[:-1]) * self.dtype.itemsize
        document_indices = np.arange(len(lengths) + 1, dtype=np.int64)
        with open(idx_path(self.prefix), "wb") as f:
            f.write(INDEX_MAGIC)
            f.write(struct.pack("<Q", INDEX_VERSION))
            f.write(struct.pack("<B", DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<Q", len(lengths)))
            f.write(struct.pack("<Q", len(document_indices)))
            f.write(lengths.astype("<i4").tobytes())
            f.write(pointers.astype("<i8").tobytes())
            f.write(document_indices.astype("<i8").tobytes())
        self._finalized = True

    def __enter__(self) -> IndexedDatasetWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.finalize()
        else:
            self._bin.close()


class IndexedDataset:
    """Memory-mapped reader: `len(ds)` sequences, `ds[i]` -> tokens of sequence i (a read-only view)."""

    def __init__(self, prefix: str | os.PathLike):
        self.prefix = os.fspath(prefix)
        with open(idx_path(self.prefix), "rb") as f:
            header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES or header[:9] != INDEX_MAGIC:
            raise ValueError(f"{idx_path(self.prefix)}: not a Megatron MMIDIDX index")
        (version,) = struct.unpack_from("<Q", header, 9)
        if version != INDEX_VERSION:
            raise ValueError(f"{idx_path(self.prefix)}: index version {version}, expected 1")
        (code,) = struct.unpack_from("<B", header, 17)
        if code not in CODE_DTYPES:
            raise ValueError(f"{idx_path(self.prefix)}: unknown dtype code {code}")
        self.dtype = CODE_DTYPES[code]
        sequence_count, document_count = struct.unpack_from("<QQ", header, 18)

        index = np.memmap(idx_path(self.prefix), dtype=np.uint8, mode="r")
        offset = HEADER_BYTES
        self.sizes = np.frombuffer(index, dtype="<i4", count=sequence_count, offset=offset)
        offset += 4 * sequence_count
        self.pointers = np.frombuffer(index, dtype="<i8", count=sequence_count, offset=offset)
        offset += 8 * sequence_count
        self.document_indices = np.frombuffer(index, dtype="<i8", count=document_count, offset=offset)
        if document_count == 0 or self.document_indices[-1] != sequence_count:
            raise ValueError(f"{idx_path(self.prefix)}: document indices do not end at the sequence count")

        data_size = os.path.getsize(bin_path(self.prefix))
        # np.memmap refuses empty files; an empty shard simply has no tokens.
        self._data = (
            np.memmap(bin_path(self.prefix), dtype=self.dtype, mode="r")
            if data_size
            else np.zeros(0, dtype=self.dtype)
        )

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def num_documents(self) -> int:
        return len(self.document_indices) - 1

    @property
    def num_tokens(self) -> int:
        return int(self.sizes.sum(dtype=np.int64))

    def __getitem__(self, i: int) -> np.ndarray:
        if not -len(self) <= i < len(self):
            raise IndexError(i)
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self._data[start : start + int(self.sizes[i])]

    def tokens(self) -> np.ndarray:
        """Every token of the shard, in order (a view)."""
        return self._data
