"""Parallel efficiency: the fused run on two cores against the same run on one.

    .venv/bin/python -m bench.parallel_efficiency [--repeats 1 8] [--rounds 2]

`python -m jobs crawl-to-shards --until filter` (extract and filter fused in one Spark pass, process
start included) on the heavy input of bench/e2e_headline.py (every 2nd HTML page of the extraction sets
that record their URL, 560 pages as WARC records, 100 per `.warc.gz`), copied `--repeats` times, each
round both ways, the order alternated:

  1 core    `--set spark.master=local[1]` under `taskset -c 0`
  2 cores   `--set spark.master=local[2]` under `taskset -c 0,1`

Measured: wall time and CPU time of the whole process tree (bench/common/proc_cpu.py). Speed-up =
wall(1 core) / wall(2 cores), median over the rounds (the target: >= 1.8x); efficiency = speed-up / 2.
Both runs keep the same documents (asserted).

The extract pass's tasks are counted from its part files (one per task under docs/extract) and the
records each task read. A run of small WARC files shares a task (jobs/extract.py `files`: as many tasks as
cores when every file is small), so with `local[2]` the files are cut into two runs of consecutive
files; the bigger run's share of the records bounds the speed-up of the per-page work ("task balance
bound" = records / records of the biggest task). The fixed cost (JVM start, imports, the driver's
stats and report) is not cut into tasks (only the JVM's own threads use the second core for it), so it
weighs on the speed-up at small sizes.

The wall time of a shared machine measures the other users too: run this on two idle cores.
`--tiny N`: a dry run whose figures mean nothing (the first N pages, nothing written to bench/results).
Results: bench/results/parallel_efficiency.json.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from pathlib import Path

from bench.common.proc_cpu import become_subreaper
from bench.e2e_headline import WORK, build_input, side_ours
from bench.results_table import render, write_result
from pipeline import layout

CORES = (1, 2)


def records_per_task(out: Path) -> list[int]:
    """Records each task of the extract pass read: the rows of its kept and rejected part files (a part
    file is named `part-<task>-…`; the driver's own part of the rejected rows is not a task's)."""
    import pyarrow.parquet as pq

    rows: Counter[str] = Counter()
    for folder in (layout.docs_dir(out, "extract"), layout.rejected_dir(out, "extract")):
        for part in Path(folder).glob("part-*.parquet"):
            if "-driver-" not in part.name:
                rows[part.name.split("-")[1]] += pq.read_metadata(part).num_rows
    return [rows[task] for task in sorted(rows)]


def run(warcs: Path, cores: int) -> dict:
    out = WORK / f"parallel_{cores}"
    result = side_ours(warcs, fused=True, cores=cores, out=out)
    result["tasks"] = records_per_task(out)
    return result


def measure_size(repeats: int, rounds: int, tiny: int | None) -> tuple[list, dict]:
    warcs = build_input(repeats, "heavy", tiny)
    runs: dict[int, list[dict]] = {cores: [] for cores in CORES}
    for r in range(rounds):
        for cores in CORES if r % 2 == 0 else reversed(CORES):
            result = run(warcs, cores)
            runs[cores].append(result)
            print(
                f"x{repeats} round {r} local[{cores}]: wall {result['wall_s']:.1f} s, "
                f"CPU {result['cpu_s']:.1f} s, records per task {result['tasks']}",
                flush=True,
            )
    one, two = runs[1][-1], runs[2][-1]
    assert sorted(one["kept"]) == sorted(two["kept"]), "local[1] and local[2] kept different documents"
    wall = {cores: statistics.median(x["wall_s"] for x in runs[cores]) for cores in CORES}
    cpu = {cores: statistics.median(x["cpu_s"] for x in runs[cores]) for cores in CORES}
    speed_up = wall[1] / wall[2]
    row = [
        f"heavy pages {repeats}x ({one['records']} records in {len(list(warcs.glob('*.warc.gz')))} .warc.gz)",
        f"{len(one['tasks'])} / {len(two['tasks'])}",
        " + ".join(map(str, two["tasks"])),
        f"{sum(two['tasks']) / max(two['tasks']):.2f}x",
        round(wall[1], 1),
        round(wall[2], 1),
        f"{speed_up:.2f}x",
        f"{speed_up / 2:.0%}",
        round(cpu[1], 1),
        round(cpu[2], 1),
    ]
    raw = {
        f"local[{cores}]": [{k: x[k] for k in ("cpu_s", "wall_s", "tasks")} for x in runs[cores]]
        for cores in CORES
    }
    return row, raw


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, nargs="+", default=[1, 8], help="copies of the heavy input")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tiny", type=int, metavar="N", help="dry run: N heavy pages, nothing written")
    args = parser.parse_args()
    become_subreaper()
    rows, raw = [], {}
    for repeats in args.repeats:
        row, raw[str(repeats)] = measure_size(repeats, args.rounds, args.tiny)
        rows.append(row)
        print(row, flush=True)
    table = {
        "title": "Parallel efficiency: the fused extract + filter run on 2 cores against 1, process start included",
        "command": f"python -m bench.parallel_efficiency --repeats {' '.join(map(str, args.repeats))} "
        f"--rounds {args.rounds}",
        "columns": [
            "input",
            "extract tasks (local[1] / local[2])",
            "records per task (local[2])",
            "task balance bound",
            "wall s, 1 core",
            "wall s, 2 cores",
            "speed-up (wall)",
            "efficiency",
            "CPU s, 1 core",
            "CPU s, 2 cores",
        ],
        "rows": rows,
        "notes": "`python -m jobs crawl-to-shards --until filter` with `spark.master=local[1]` under `taskset -c 0` "
        "and `local[2]` under `taskset -c 0,1`, alternated; medians over the rounds. Speed-up = wall time on 1 "
        "core / on 2 (target >= 1.8x), efficiency = speed-up / 2. CPU = whole process tree (JVM, Spark's Python "
        "workers). Task balance bound = records / records of the biggest extract task: the most the per-page work "
        "can gain from the way the WARC files are cut into tasks.",
    }
    if args.tiny:
        print(render([table]))
        return
    print(write_result("parallel_efficiency", [table], {"runs": raw}))


if __name__ == "__main__":
    main()
