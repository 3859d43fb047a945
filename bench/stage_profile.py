"""Where a global stage spends its time: each Spark job of one stage run, from Spark's own event log.

    .venv/bin/python -m bench.stage_profile shards --docs 100000 [--master local[1]] [--set KEY=VALUE]

Builds bench/dedup_scale.py's synthetic corpus (seeded; kept under bench/out/stage_profile/ for reruns),
runs the stage once with `spark.eventLog.enabled` (uncompressed, one file), and prints per Spark job: its
start and duration in seconds from the first job, and the line of our code that started it (Spark's
call site). The gaps between jobs are the driver's own work (planning, the tokenizer's training, the
shard writer). What a stage's steps cost moves as code changes; this prints it for the code checked out.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

from bench.common.env import OUT

WORK = OUT / "stage_profile"


def job_times(event_log: Path) -> list[tuple[float, float, str]]:
    """(start s, duration s, call site) of each job in an uncompressed event log folder or file."""
    starts: dict[int, tuple[int, str]] = {}
    ends: dict[int, int] = {}
    files = [event_log] if event_log.is_file() else sorted(p for p in event_log.rglob("*") if p.is_file())
    for name in files:
        for line in name.open(errors="replace"):
            event = json.loads(line)
            if event["Event"] == "SparkListenerJobStart":
                site = event.get("Properties", {}).get("callSite.short", "?")
                starts[event["Job ID"]] = (event["Submission Time"], site)
            elif event["Event"] == "SparkListenerJobEnd":
                ends[event["Job ID"]] = event["Completion Time"]
    if not starts:
        return []
    first = min(t for t, _ in starts.values())
    return [
        ((t - first) / 1000, (ends.get(job, t) - t) / 1000, site) for job, (t, site) in sorted(starts.items())
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("stage", choices=["dedup", "shards"])
    parser.add_argument("--docs", type=int, default=100000)
    parser.add_argument("--master", default=None, help="default: the config's spark.master")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--min-seconds", type=float, default=0.5, help="list jobs at least this long")
    args = parser.parse_args()

    import yaml

    from bench.dedup_scale import write_corpus

    corpus = WORK / f"synthetic-{args.docs}"
    if not corpus.exists():
        write_corpus(corpus.with_suffix(".partial"), args.docs)
        corpus.with_suffix(".partial").rename(corpus)
    events = Path(tempfile.mkdtemp(prefix="events-"))
    os.environ["PYSPARK_SUBMIT_ARGS"] = (
        f"--conf spark.eventLog.enabled=true --conf spark.eventLog.dir=file://{events} "
        "--conf spark.eventLog.compress=false --conf spark.eventLog.rolling.enabled=false pyspark-shell"
    )
    from jobs.session import get_spark
    from pipeline.config import load_config
    from pipeline.stages import runner

    cfg = load_config(overrides={k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in args.set)})
    spark = get_spark(cfg, master=args.master, app_name=f"profile-{args.stage}")
    out = WORK / f"out-{args.stage}-{args.docs}"
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    runner(args.stage)(spark, cfg, str(corpus), str(out))
    total = time.perf_counter() - started
    master = spark.sparkContext.master
    spark.stop()
    jobs = job_times(events)
    shutil.rmtree(events, ignore_errors=True)
    print(f"{args.stage} on {args.docs} synthetic documents, {master}: {total:.1f} s, {len(jobs)} Spark jobs")
    for start, seconds, site in jobs:
        if seconds >= args.min_seconds:
            print(f"  at {start:7.1f} s  {seconds:7.1f} s  {site}")


if __name__ == "__main__":
    main()
