"""Peak memory per executor process while a stage runs, at 1x and 10x input.

Each stage runs as a scheduled job would, `python -m jobs <stage>` in a subprocess on `local[2]`,
over the demo crawl at N pages and at FACTOR x N pages (the same three WARC files, each FACTOR times
longer, so a task streams FACTOR times more records). A sampler thread reads the resident set size
(psutil) of every process of the job's tree every 50 ms:

    jvm      the Spark JVM (in local mode driver and executor in one)
    worker   each Python worker (a `pyspark.daemon` fork running the stage's Python code)
    workers  all Python workers together at one instant
    driver   the Python driver (`python -m jobs`)

Flat means the per-process peaks at FACTOR x input stay below 1.3x those at 1x: the reader streams
records, stages see bounded Arrow batches (`spark.arrow_batch_rows`), and Spark spills.

    .venv/bin/python -m bench.memory_flat [--pages 100] [--factor 10] [--stages extract,filter]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil

from bench.results_table import write_result

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
FLAT = 1.3  # the target: 10x input, < 1.3x peak per process
SAMPLE_S = 0.05


class TreeSampler(threading.Thread):
    """Peak RSS per process kind of a process tree, sampled until stop()."""

    def __init__(self, root_pid: int):
        super().__init__(daemon=True)
        self.root = psutil.Process(root_pid)
        self.peaks = {"jvm": 0, "worker": 0, "workers": 0, "driver": 0}
        self.worker_pids: set[int] = set()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.is_set():
            self.sample()
            time.sleep(SAMPLE_S)

    def stop(self) -> None:
        self._done.set()
        self.join()

    def sample(self) -> None:
        try:
            procs = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            return
        workers_now = 0
        for proc in procs:
            try:
                rss, name, cmdline = proc.memory_info().rss, proc.name(), " ".join(proc.cmdline())
            except psutil.Error:  # it ended between listing and reading
                continue
            if proc.pid == self.root.pid:
                kind = "driver"
            elif name == "java":
                kind = "jvm"
            elif "pyspark.daemon" in cmdline or "pyspark.worker" in cmdline:
                kind = "worker"
                self.worker_pids.add(proc.pid)
                workers_now += rss
            else:
                continue
            self.peaks[kind] = max(self.peaks[kind], rss)
        self.peaks["workers"] = max(self.peaks["workers"], workers_now)


def run_stage(stage: str, inp: Path | None, out: Path, sets: list[str]) -> dict:
    command = [sys.executable, "-m", "jobs", stage, "--output", str(out), "--master", "local[2]"]
    command += ["--input", str(inp)] if inp else []
    for item in sets:
        command += ["--set", item]
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable, "SPARK_LOCAL_IP": "127.0.0.1"}
    started = time.monotonic()
    proc = subprocess.Popen(
        command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    sampler = TreeSampler(proc.pid)
    sampler.start()
    log, _ = proc.communicate()
    sampler.stop()
    if proc.returncode != 0:
        raise SystemExit(f"{stage} failed:\n{log[-3000:]}")
    docs_line = next(
        (line for line in log.splitlines() if line.startswith(f"[{stage}]") and "docs in" in line), ""
    )
    return {
        "stage": stage,
        "seconds": round(time.monotonic() - started, 1),
        "summary": docs_line,
        "python_workers_seen": len(sampler.worker_pids),
        **{f"{kind}_peak_mb": round(rss / 2**20, 1) for kind, rss in sampler.peaks.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=100)
    parser.add_argument("--factor", type=int, default=10)
    parser.add_argument("--stages", default="extract,filter")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "out" / "memory_flat")
    args = parser.parse_args()

    from pipeline.fixtures.demo_crawl import generate_demo_crawl

    stages = args.stages.split(",")
    sets = []
    if not SHARED_DATA.is_dir():  # the URL pre-checks and the NSFW filter read lists from ../shared/data
        sets.append("extract.url_prechecks=[]")
        stages = [s for s in stages if s == "extract"]
    shutil.rmtree(args.work, ignore_errors=True)
    results = []
    for scale in (1, args.factor):
        pages = args.pages * scale
        crawl, out = args.work / f"crawl-{pages}", args.work / f"run-{pages}"
        generate_demo_crawl(crawl, seed=1234, n_pages=pages)
        for stage in stages:
            row = run_stage(stage, crawl if stage == "extract" else None, out, sets)
            row.update(scale=scale, pages=pages)
            results.append(row)
            print(json.dumps(row), flush=True)

    report = {
        "machine": f"{os.cpu_count()}-core {os.uname().machine}",
        "pages": args.pages,
        "factor": args.factor,
        "results": results,
        "ratios": {},
        "peaks": [],
    }
    print(f"\n| stage | process | peak MB at {args.pages} pages | at {args.pages * args.factor} | ratio |")
    print("|---|---|---|---|---|")
    for stage in stages:
        small, big = (
            next(r for r in results if r["stage"] == stage and r["scale"] == s) for s in (1, args.factor)
        )
        for kind in ("jvm", "worker", "workers", "driver"):
            key = f"{kind}_peak_mb"
            ratio = big[key] / small[key] if small[key] else float("nan")
            report["ratios"][f"{stage}.{kind}"] = round(ratio, 2)
            report["peaks"].append(
                {"stage": stage, "kind": kind, "small_mb": small[key], "big_mb": big[key], "ratio": ratio}
            )
            flag = "" if ratio < FLAT else "  (not flat)"
            print(f"| {stage} | {kind} | {small[key]:.0f} | {big[key]:.0f} | {ratio:.2f}{flag} |")
    (args.work / "memory_flat.json").write_text(json.dumps(report, indent=1) + "\n")
    print(write_result("memory_flat", [table(report)], report))


PROCESSES = {"jvm": "Spark JVM", "worker": "one Python worker (max)", "workers": "all Python workers"}


def table(report: dict) -> dict:
    pages, big = report["pages"], report["pages"] * report["factor"]
    return {
        "title": f"Peak RSS per process at {pages} and {big} pages of the demo crawl, `local[2]`",
        "command": f"python -m bench.memory_flat --pages {pages} --factor {report['factor']}",
        "columns": ["stage", "process", f"peak RSS, {pages} pages", f"{big} pages", "ratio"],
        "rows": [
            [
                p["stage"],
                PROCESSES[p["kind"]],
                f"{p['small_mb']:.0f} MB",
                f"{p['big_mb']:.0f} MB",
                f"{p['ratio']:.2f}",
            ]
            for p in report["peaks"]
            if p["kind"] in PROCESSES
        ],
    }


if __name__ == "__main__":
    main()
