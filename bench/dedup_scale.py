"""Scale of the dedup stage on local Spark: wall time and peak memory vs corpus size.

Synthetic corpus (seeded): documents of 80-320 words from a 20k-word Zipf vocabulary, 10% of them
near-duplicate copies (2% of words replaced, shingle Jaccard ~0.8) of another document, 5% sharing a boilerplate line
and 2% repeating a URL. The full stage runs (`jobs.dedup.run`: URL, MinHash with connected
components, lines, writing docs/rejected/stats). Memory is sampled every 0.25 s:
the driver Python process RSS, the Spark JVM RSS (in local mode the driver and the executors share
this JVM) and the JVM heap in use, and the summed RSS of the Python worker processes.

    .venv/bin/python bench/dedup_scale.py --sizes 10000 100000 [--master local[2]]

Prints one row per size and the log-log slope of time vs N (the growth exponent).
"""

from __future__ import annotations

import argparse
import math
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


def write_corpus(path: Path, n: int, seed: int = 3, chunk: int = 20000) -> None:
    rng = np.random.default_rng(seed)
    vocab = np.array([f"w{i}" for i in range(20000)])
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()
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
            words = vocab[rng.choice(len(vocab), size=int(rng.integers(80, 320)), p=zipf)]
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[10000, 100000])
    parser.add_argument("--master", default="local[2]")
    args = parser.parse_args()

    from jobs.dedup import run
    from jobs.session import get_spark
    from pipeline.config import load_config

    cfg = load_config()
    spark = get_spark(cfg, master=args.master, app_name="dedup-scale")
    results = []
    for n in args.sizes:
        work = Path(tempfile.mkdtemp(prefix="dedup-scale-"))
        write_corpus(work / "in", n)
        sampler = MemorySampler(spark)
        sampler.start()
        t0 = time.perf_counter()
        stats = run(spark, cfg, str(work / "in"), str(work / "out"))
        secs = time.perf_counter() - t0
        sampler.stop_flag.set()
        sampler.join()
        dropped = {r["rule"]: r["docs_dropped"] for r in stats}
        mb = {k: v / 2**20 for k, v in sampler.peak.items()}
        results.append((n, secs))
        print(
            f"N={n:>8d} time {secs:7.1f} s  ({n / secs:6.0f} docs/s)  peak MB: driver-py {mb['driver_py']:.0f}, "
            f"JVM rss {mb['jvm_rss']:.0f} (heap used {mb['jvm_heap']:.0f}), py workers {mb['workers_rss']:.0f}  "
            f"dropped url {dropped.get('url')}, minhash {dropped.get('minhash')}, "
            f"line_min_words {dropped.get('line_min_words')}",
            flush=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    if len(results) >= 2:
        (n0, t0_), (n1, t1_) = results[0], results[-1]
        print(f"growth exponent (log-log slope of time vs N): {math.log(t1_ / t0_) / math.log(n1 / n0):.2f}")
    spark.stop()


if __name__ == "__main__":
    main()
