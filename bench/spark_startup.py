"""What a local run's JVM options and class archive save, on the user's path.

    .venv/bin/python -m bench.spark_startup [--repeats 3] [--rounds 2]

`python -m jobs crawl-to-shards --until filter` (extract + filter fused, the report built) over
`--repeats` copies of ../shared/data/warc_samples, one core (`taskset -c 0`, `local[1]`), CPU of the
whole process tree (bench/common/proc_cpu.py), three JVM settings alternated round by round:

  JVM defaults       `--set spark.local_java_options=null` (C2 JIT, G1, no class archive)
  options only       the configured options with their flags in reverse order: the same JVM settings
                     under another archive key, so no class archive is found
  options + archive  the default config, with the archive `make venv` builds (`python -m jobs class-archive`)

All three keep the same documents (asserted).

`--global-stages N` adds a second table: the JVM-heavy dedup and shards stages on N synthetic
documents (bench/dedup_scale.py, one core, `local[1]`), under the JVM defaults and under the
configured options, alternated; wall time per stage (one core, so about its CPU time).

Results: bench/results/spark_startup.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

from bench.common.env import ONE_CORE, PY_OURS, REPO
from bench.common.proc_cpu import become_subreaper, run_measured
from bench.e2e_headline import WORK, build_input, kept_urls_parquet
from bench.results_table import write_result
from jobs.session import class_archive_path
from pipeline import layout
from pipeline.config import load_config


def variants() -> dict[str, str | None]:
    configured = load_config()["spark"]["local_java_options"]
    return {
        "JVM defaults": "null",
        "options only": " ".join(reversed(configured.split())),
        "options + archive": None,
    }


def run_once(warcs: Path, java_options: str | None) -> dict:
    out = WORK / "startup"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [*ONE_CORE, str(PY_OURS), "-m", "jobs", "crawl-to-shards", "--until", "filter"]
    cmd += ["--input", str(warcs), "--output", str(out), "--set", "spark.master=local[1]"]
    if java_options is not None:
        cmd += ["--set", f"spark.local_java_options={java_options}"]
    measured = run_measured(cmd, cwd=REPO)
    return {
        "cpu_s": measured["cpu_s"],
        "wall_s": measured["wall_s"],
        "kept": kept_urls_parquet(layout.docs_dir(out, "filter")),
    }


def global_stages(n: int, rounds: int) -> dict:
    """dedup and shards on `n` documents under the JVM defaults and the configured options."""
    walls: dict[tuple[str, str], list[float]] = {}
    sides = {"JVM defaults": "null", "configured options": None}
    for r in range(rounds):
        for name, options in sides.items() if r % 2 == 0 else reversed(sides.items()):
            with tempfile.TemporaryDirectory() as folder:
                result = Path(folder) / "scale.json"
                cmd = [*ONE_CORE, str(PY_OURS), "-m", "bench.dedup_scale", "--sizes", str(n)]
                cmd += ["--stages", "dedup", "shards", "--master", "local[1]", "--json", str(result)]
                cmd += ["--set", f"spark.local_java_options={options}"] if options else []
                subprocess.run(cmd, check=True, cwd=REPO, capture_output=True)
                for row in json.loads(result.read_text())["synthetic"]["rows"]:
                    walls.setdefault((name, row["stage"]), []).append(row["wall_s"])
            print(f"round {r} {name}: {walls}", flush=True)
    rows = []
    for stage in ("dedup", "shards"):
        base = statistics.median(walls[("JVM defaults", stage)])
        configured = statistics.median(walls[("configured options", stage)])
        rows.append([stage, n, round(base, 1), round(configured, 1), f"{base / configured:.2f}x"])
    return {
        "title": "Local JVM settings on the JVM-heavy global stages, one core",
        "command": f"python -m bench.spark_startup --global-stages {n} --rounds {rounds}",
        "columns": ["stage", "documents", "JVM defaults wall s", "configured options wall s", "speed-up"],
        "rows": rows,
        "notes": "bench/dedup_scale.py's synthetic corpus, `local[1]` under `taskset -c 0`; medians over the "
        "rounds. The class archive is used on the configured side (the JVM defaults have none).",
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument(
        "--global-stages", type=int, metavar="N", help="also time dedup and shards on N documents"
    )
    args = parser.parse_args()
    configured = load_config()["spark"]["local_java_options"]
    if not class_archive_path(configured).exists():
        raise SystemExit("no class archive: run `python -m jobs class-archive` (make venv does) first")
    become_subreaper()
    warcs = build_input(args.repeats)
    runs: dict[str, list[dict]] = {name: [] for name in variants()}
    for r in range(args.rounds):
        order = list(variants().items())
        for name, options in order if r % 2 == 0 else reversed(order):
            runs[name].append(run_once(warcs, options))
            print(f"round {r} {name}: CPU {runs[name][-1]['cpu_s']:.1f} s", flush=True)
    kept = {name: sorted(result[-1]["kept"]) for name, result in runs.items()}
    assert all(k == kept["JVM defaults"] for k in kept.values()), (
        "the JVM settings changed the kept documents"
    )
    base = statistics.median(x["cpu_s"] for x in runs["JVM defaults"])
    rows = []
    for name, results in runs.items():
        cpu = statistics.median(x["cpu_s"] for x in results)
        wall = statistics.median(x["wall_s"] for x in results)
        rows.append([name, round(cpu, 1), round(wall, 1), f"{base / cpu:.2f}x"])
    table = {
        "title": f"Local JVM settings, extract + filter fused on {args.repeats} x warc_samples, one core, process start included",
        "command": f"python -m bench.spark_startup --repeats {args.repeats} --rounds {args.rounds}",
        "columns": ["JVM", "CPU s (median)", "wall s (median)", "CPU vs JVM defaults"],
        "rows": rows,
        "notes": f"Configured options: `{configured}` (configs/default.yaml spark.local_java_options). "
        f"{args.rounds} rounds, order alternated; the same {len(kept['JVM defaults'])} documents kept by all three.",
    }
    tables = [table] + ([global_stages(args.global_stages, args.rounds)] if args.global_stages else [])
    print(write_result("spark_startup", tables))


if __name__ == "__main__":
    main()
