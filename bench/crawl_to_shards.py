"""`crawl-to-shards` on the demo crawl, as `make crawl-to-shards` runs it: wall and CPU time of the
whole process tree (JVM and Spark's Python workers included), optionally side by side with another
checkout of the code (e.g. the commit before a change), alternating in each round.

    .venv/bin/python -m bench.crawl_to_shards [--rounds 1] [--before /path/to/other/checkout]

The demo crawl is generated once under bench/out/cts/ (gitignored) by `python -m jobs demo-crawl`.
Each side runs `python -m jobs crawl-to-shards --input CRAWL --output OUT` with its checkout as the
working directory and PYTHONPATH, and the default config (`spark.master: local[*]`). On a shared
machine, CPU time is the fairer figure; both are reported. Results: bench/results/crawl_to_shards.json.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from pathlib import Path

from bench.common.env import OUT, PY_OURS, REPO
from bench.common.inputs import demo_crawl
from bench.common.proc_cpu import become_subreaper, run_measured
from bench.results_table import write_result

WORK = OUT / "cts"


def run_side(checkout: Path, crawl: Path, out: Path) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [str(PY_OURS), "-m", "jobs", "crawl-to-shards", "--input", str(crawl), "--output", str(out)]
    env = {"PYTHONPATH": str(checkout), "PYSPARK_PYTHON": str(PY_OURS)}
    return run_measured(cmd, env=env, cwd=checkout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--before", type=Path, help="another checkout to run side by side (the baseline)")
    args = parser.parse_args()
    become_subreaper()
    crawl = demo_crawl(WORK / "crawl")
    sides = {"this checkout": REPO} | ({"before": args.before.resolve()} if args.before else {})
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for r in range(args.rounds):
        for side, checkout in sides.items() if r % 2 == 0 else reversed(sides.items()):
            result = run_side(checkout, crawl, WORK / side.replace(" ", "_"))
            print(f"round {r} {side}: wall {result['wall_s']:.1f} s, CPU {result['cpu_s']:.1f} s", flush=True)
            runs[side].append(result)
    rows = []
    for side in sides:
        wall = statistics.median(x["wall_s"] for x in runs[side])
        cpu = statistics.median(x["cpu_s"] for x in runs[side])
        rows.append([side, round(wall, 1), round(cpu, 1)])
    if args.before:
        rows.append(
            ["before / this (ratio)", round(rows[1][1] / rows[0][1], 2), round(rows[1][2] / rows[0][2], 2)]
        )
    command = (
        "python -m bench.crawl_to_shards --rounds "
        + str(args.rounds)
        + (" --before CHECKOUT" if args.before else "")
    )
    table = {
        "title": "make crawl-to-shards on the demo crawl (local[*], process start included; median of rounds)",
        "command": command,
        "columns": ["side", "wall s", "CPU s (process tree)"],
        "rows": rows,
        "notes": "Sides alternate within each round on the same machine; CPU includes the JVM and Spark's Python workers.",
    }
    print(write_result("crawl_to_shards", [table]))


if __name__ == "__main__":
    main()
