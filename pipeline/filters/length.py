"""The smallest useful row-wise stage: reject documents with too few words.

It doubles as the reference example of the stage protocol (pipeline/stage.py).
"""

from __future__ import annotations

import pyarrow as pa

from pipeline.schema import set_column
from pipeline.stage import Stage, first_failure


class MinWordsStage(Stage):
    name = "length"
    rules = ("min_words",)
    signals = (pa.field("length_words", pa.int32()),)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        words = [len((text or "").split()) for text in batch.column("text").to_pylist()]
        min_words = self.cfg["min_words"]
        batch = set_column(batch, "length_words", words, pa.int32())
        return first_failure(batch, self.name, [("min_words", [w < min_words for w in words])])
