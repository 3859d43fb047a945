"""One sorted stream from Parquet part files that are each sorted: a k-way merge on the driver.

The shards stage sorts each Spark partition on its own (a sort inside the task, no shuffle) and writes
it as one file; the driver, which writes the shards anyway, merges the files' rows into the global
order here. A global sort in Spark would sample the table, shuffle every token through the JVM and
write a sorted copy, only for the driver to read it back in order.

Files are read a row group at a time (the stage writes one per Arrow batch of `spark.arrow_batch_rows`
documents), so memory holds about one row group per file. Python compares `str` by code point, which is
the order of Spark's binary UTF-8 comparison, so the merged order is the one `orderBy` gives.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from pipeline import storage

Row = tuple  # the key columns' values, then the list column as a numpy slice


def file_rows(
    name: str, keys: Sequence[str], tokens: str, dtype, where: pc.Expression | None = None
) -> Iterator[Row]:
    """Rows of one part file as (*keys, tokens): the key columns as Python values, the list column
    `tokens` as a numpy slice of its values in `dtype`. `where` (an Arrow filter that may name any of
    the file's columns) keeps only the rows it is true for, before any Python value is built."""
    fs, path = storage.fs_path(name)
    with fs.open_input_file(path) as source:
        parquet = pq.ParquetFile(source)
        for group in range(parquet.num_row_groups):
            if where is None:
                batch = parquet.read_row_group(group, columns=[*keys, tokens])
            else:
                batch = parquet.read_row_group(group).filter(where)
            column = batch.column(tokens).combine_chunks()
            values = column.values.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
            offsets = column.offsets.to_numpy()
            key_values = [batch.column(k).to_pylist() for k in keys]
            for i, row in enumerate(zip(*key_values)):
                yield (*row, values[offsets[i] : offsets[i + 1]])


def merged_rows(
    files: Sequence[str], keys: Sequence[str], tokens: str, dtype, where: pc.Expression | None = None
):
    """The rows of every file in the order of `keys`, each file being sorted by them; `where` keeps
    only the rows it is true for. Ties keep the files' order (files in partition order)."""
    streams = [file_rows(name, keys, tokens, dtype, where) for name in files]
    width = len(keys)
    return heapq.merge(*streams, key=lambda row: row[:width])


def runs(rows: Iterator[Row], group: Callable[[Row], tuple], max_rows: int = 1024):
    """Consecutive rows with the same `group(row)`, up to `max_rows` at a time, as (group, values,
    lengths): the rows' token slices back to back and each one's length."""
    current, pieces = None, []
    for row in rows:
        name = group(row)
        if pieces and (name != current or len(pieces) == max_rows):
            yield current, np.concatenate(pieces), np.fromiter(map(len, pieces), np.int64, len(pieces))
            pieces = []
        current = name
        pieces.append(row[-1])
    if pieces:
        yield current, np.concatenate(pieces), np.fromiter(map(len, pieces), np.int64, len(pieces))
