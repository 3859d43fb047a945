"""Scale of the global stages on local Spark, on the default config: wall time, docs/s and peak
memory per process kind vs corpus size.

Two corpora (seeded). `synthetic`: documents of 80-320 words from a 20k-word Zipf vocabulary, 10% of
them near-duplicate copies (2% of words replaced, shingle Jaccard ~0.8) of another document, 5%
sharing a boilerplate line and 2% repeating a URL. `real`: the same shape built from the sentences of
../shared/data (bench/common/real_text_corpus.py). Each stage runs whole (`jobs.dedup.run`: URL, MinHash
with connected components, lines, writing docs/rejected/stats; `jobs.shards.run`: tokenizer training,
tokenization, Megatron shards). Memory is sampled every 0.25 s: the driver Python process RSS, the
Spark JVM RSS (in local mode the driver and the executors share this JVM) and the JVM heap in use,
and the summed RSS of the Python worker processes.

    .venv/bin/python -m bench.dedup_scale --sizes 10000 100000 1000000
    .venv/bin/python -m bench.dedup_scale --corpus real --stages dedup shards --sizes 10000 100000 1000000

Prints one row per (size, stage) and the log-log slope of time vs N (the growth exponent); merges the
rows into bench/results/dedup_scale.json under the corpus name.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.schema import DOC_SCHEMA
from pipeline.urls import normalize_url


def write_corpus(path: Path, n: int, seed: int = 3, chunk: int = 20000) -> None:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)])
    zipf_cdf = np.cumsum(1.0 / np.arange(1, len(vocab) + 1))
    zipf_cdf /= zipf_cdf[-1]
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    path.mkdir(parents=True)
    previous: list[str] = []
    for part, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        texts = []
        for _ in range(size):
            if previous and rng.random() < 0.10:  # near-duplicate of an earlier document
                words = previous[rng.integers(len(previous))].split(" ")
                for j in rng.choice(len(words), size=max(1, len(words) // 50), replace=False):
                    words[j] = "edited"
                texts.append(" ".join(words))
                previous.append(texts[-1])
                continue
            words = vocab[np.searchsorted(zipf_cdf, rng.random(int(rng.integers(80, 320))))]
            text = "\n".join(" ".join(words[k : k + 16]) for k in range(0, len(words), 16))
            if rng.random() < 0.05:
                text = "Subscribe to our newsletter for the latest offers\n" + text
            texts.append(text)
            previous.append(text)
            if len(previous) > 4000:  # copies come from the last 2000-4000 documents
                del previous[:2000]
        ids = [f"d{start + i:08d}" for i in range(size)]
        urls = [
            f"https://site{(start + i) % 997}.com/p/{(start + i) if rng.random() > 0.02 else start}"
            for i in range(size)
        ]
        table = pa.table(
            {
                "doc_id": ids,
                "url": urls,
                "url_norm": [normalize_url(u) for u in urls],  # as the extract stage writes it
                "host": [u.split("/")[2] for u in urls],
                "fetch_time": [t0 + timedelta(minutes=int(x)) for x in rng.integers(0, 10**6, size)],
                "text": texts,
                "quality_score": rng.random(size).astype(np.float32),
            }
        )
        full = pa.Table.from_arrays(
            [table[f.name] if f.name in table.column_names else pa.nulls(size, f.type) for f in DOC_SCHEMA],
            schema=DOC_SCHEMA,
        )
        pq.write_table(full, path / f"part-{part:05d}.parquet")


class MemorySampler(threading.Thread):
    def __init__(self, spark):
        super().__init__(daemon=True)
        self.spark, self.stop_flag = spark, threading.Event()
        self.peak = {"driver_py": 0, "jvm_rss": 0, "jvm_heap": 0, "workers_rss": 0}
        self.me = psutil.Process()

    def run(self) -> None:
        runtime = self.spark._jvm.java.lang.Runtime.getRuntime()
        while not self.stop_flag.is_set():
            try:
                jvms = [p for p in self.me.children() if "java" in p.name()]
                workers = [c for j in jvms for c in j.children(recursive=True)]
                sample = {
                    "driver_py": self.me.memory_info().rss,
                    "jvm_rss": sum(p.memory_info().rss for p in jvms),
                    "jvm_heap": runtime.totalMemory() - runtime.freeMemory(),
                    "workers_rss": sum(p.memory_info().rss for p in workers),
                }
                for k, v in sample.items():
                    self.peak[k] = max(self.peak[k], v)
            except (psutil.Error, Exception):  # a process ending mid-sample
                pass
            time.sleep(0.25)


RESULTS = Path(__file__).resolve().parent / "results" / "dedup_scale.json"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--corpus", choices=["synthetic", "real"], default="synthetic")
    parser.add_argument("--stages", nargs="+", choices=["dedup", "shards"], default=["dedup"])
    parser.add_argument("--master", default=None, help="default: the config's spark.master")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="config override")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()

    import yaml

    from jobs.session import get_spark
    from pipeline import layout
    from pipeline.config import load_config
    from pipeline.stages import runner as stage_run

    cfg = load_config(overrides={k: yaml.safe_load(v) for k, _, v in (p.partition("=") for p in args.set)})
    spark = get_spark(cfg, master=args.master, app_name="dedup-scale")
    conf = spark.sparkContext.getConf()
    settings = {
        "master": spark.sparkContext.master,
        "spark.driver.memory": conf.get("spark.driver.memory"),
        "spark.sql.shuffle.partitions": conf.get("spark.sql.shuffle.partitions"),
        "spark.sql.adaptive.enabled": conf.get("spark.sql.adaptive.enabled", "default"),
        "overrides": args.set,
        "command": " ".join(
            ["python -m bench.dedup_scale --corpus", args.corpus, "--stages", *args.stages, "--sizes"]
            + [str(n) for n in args.sizes]
            + (["--master", args.master] if args.master else [])
            + [f"--set {kv}" for kv in args.set]
        ),
    }
    print(f"settings: {settings}", flush=True)
    if args.corpus == "real":
        from bench.common.real_text_corpus import write_real_corpus as build
    else:
        build = write_corpus
    rows = []
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="dedup-scale-"))
        t0 = time.perf_counter()
        build(work / "in", n)
        corpus_s = time.perf_counter() - t0
        inp = str(work / "in")
        for stage in args.stages:
            sampler = MemorySampler(spark)
            sampler.start()
            t0 = time.perf_counter()
            stats = stage_run(stage)(spark, cfg, inp, str(work / "out"))
            secs = time.perf_counter() - t0
            sampler.stop_flag.set()
            sampler.join()
            inp = str(layout.docs_dir(work / "out", stage))
            total = next(r for r in stats if r["rule"] == "_total")
            dropped = {r["rule"]: r["docs_dropped"] for r in stats if r["rule"] != "_total"}
            mb = {k: round(v / 2**20) for k, v in sampler.peak.items()}
            row = {
                "n": n,
                "stage": stage,
                "docs_in": total["docs_in"],
                "wall_s": round(secs, 1),
                "docs_per_s": round(total["docs_in"] / secs),
                "peak_mb": mb,
                "dropped": dropped,
                "corpus_build_s": round(corpus_s, 1),
                "load_avg_1m": round(os.getloadavg()[0], 1),
            }
            rows.append(row)
            save(args.json, args.corpus, settings, rows)
            print(
                f"N={n:>8d} {stage:>6s}: {row['docs_in']} docs in, {secs:7.1f} s ({row['docs_per_s']} docs/s)  "
                f"peak MB: driver-py {mb['driver_py']}, JVM rss {mb['jvm_rss']} (heap used {mb['jvm_heap']}), "
                f"py workers {mb['workers_rss']}  dropped {dropped}  load {row['load_avg_1m']}",
                flush=True,
            )
        shutil.rmtree(work, ignore_errors=True)
    for stage in args.stages:
        curve = [(r["n"], r["wall_s"]) for r in rows if r["stage"] == stage]
        if len(curve) >= 2:
            (n0, t0_), (n1, t1_) = curve[0], curve[-1]
            slope = math.log(t1_ / t0_) / math.log(n1 / n0)
            print(f"{stage}: growth exponent (log-log slope of time vs N): {slope:.2f}")
    spark.stop()


def save(path: Path, corpus: str, settings: dict, rows: list[dict]) -> None:
    """Merge this corpus's rows into the JSON results (after every row: a long run that is stopped
    keeps what it measured), with the tables `make bench-tables` renders into BENCHMARKS.md."""
    results = json.loads(path.read_text()) if path.exists() else {}
    results[corpus] = {"settings": settings, "rows": rows}
    results["tables"] = tables(results)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")


def tables(results: dict) -> list[dict]:
    """One table per corpus: a row per (N, stage) with time, rate and peak memory per process kind."""
    out = []
    for corpus, result in sorted(results.items()):
        if corpus == "tables":
            continue
        settings = result["settings"]
        out.append(
            {
                "title": f"Global stages on the default config, {corpus} corpus "
                f"(driver memory {settings['spark.driver.memory']}, AQE {settings['spark.sql.adaptive.enabled']})",
                "command": settings.get("command")
                or f"python -m bench.dedup_scale --corpus {corpus} --stages dedup shards --sizes 10000 100000 1000000",
                "columns": [
                    "N", "stage", "docs in", "wall s", "docs/s", "driver Python MB", "JVM RSS MB",
                    "JVM heap used MB", "Python workers MB", "load avg (1 min)",
                ],
                "rows": [
                    [
                        r["n"], r["stage"], r["docs_in"], r["wall_s"], r["docs_per_s"], r["peak_mb"]["driver_py"],
                        r["peak_mb"]["jvm_rss"], r["peak_mb"]["jvm_heap"], r["peak_mb"]["workers_rss"],
                        r.get("load_avg_1m"),
                    ]
                    for r in result["rows"]
                ],
                "notes": "Wall time on the 2-core machine while other work ran (the last column is the load "
                "average when the row ended, not over the row): absolute speeds and the growth between rows "
                "depend on that load.",
            }
        )  # fmt: skip
    return out


if __name__ == "__main__":
    main()
