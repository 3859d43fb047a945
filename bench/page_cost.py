"""Where the CPU of one page goes: extract + filter, step by step, on real heavy pages.

    .venv/bin/python -m bench.page_cost [--every 4] [--rounds 3] [--compare-ref REF] [--spark]

Input: the HTML pages of the extraction sets that record their real URL (WCXB, Scrapinghub AEB,
trafilatura's eval set: `bench.data_value_vs_datatrove.extraction_pages`), every `--every`-th page,
wrapped as 200 text/html WARC records (`pipeline.fixtures.warc_writer`), one `.warc.gz` file.

Measured, in a fresh process per round: the fused pass of `crawl-to-shards` (jobs.extract's step ->
the filter stage's step, each through the task sink of jobs/output.py that counts and writes its
Parquet files), driven in-process without Spark, so what is left is per page. Every step is wrapped in
a timer (`bench.common.step_clock`) that reads the CPU time of the thread doing all the work, not wall
time, because the machine is shared. The process's CPU time over the whole pass is kept beside it in
the figures as a check that no library did work on other threads. A step's time excludes the steps
nested in it (trafilatura's time is not also the cascade's).
The filter families' own time includes the lazy text split (`DocStats`) the first family to ask for a
view pays. A warm-up pass over the first pages runs first (models, blocklists, Punkt load once per
process), so the table is the steady per-page cost.

Beside it: trafilatura alone on the same payload bytes (it decodes and parses itself), with the
settings of our first pass: the floor of this architecture. The issue's target: ours <= 1.4x that.

`--compare-ref REF` also measures the same pass on the code of git ref REF (exported with `git archive`
into bench/out/page_cost/, the measuring scripts copied in), alternating with ours round by round.
`--spark` adds the per-record CPU of the real `crawl-to-shards --until filter` under Spark on the same
pages (local[1], one core, whole process tree, fixed cost taken out), beside the in-process figure.
Writes bench/results/page_cost.json (rendered into BENCHMARKS.md by `python -m bench.results_table`).
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common.env import ONE_CORE, OUT, PY_OURS, REPO
from bench.common.step_clock import StepClock

WORK = OUT / "page_cost"
WARMUP_PAGES = 20
GLUE = (  # what is left of each stage once its timed steps are taken out
    "extract: rows, conform, kept/rejected split",
    "filter: Arrow <-> Python, conform, kept/rejected split",
)


def build_input(every: int) -> tuple[Path, int]:
    from bench.common.inputs import heavy_pages
    from pipeline.fixtures.warc_writer import write_html_warc

    path = WORK / f"heavy-every{every}.warc.gz"
    pages = heavy_pages(every)
    if not path.exists():
        WORK.mkdir(parents=True, exist_ok=True)
        write_html_warc(path.with_suffix(".tmp"), pages).rename(path)
    return path, len(pages)


def instrument(clock: StepClock, cascade_first: dict) -> None:
    """Wrap each step of the extract and filter path where it is called from (module attributes)."""
    import trafilatura

    import jobs.output
    import pipeline.extract.html as html
    import pipeline.extract.stage as stage
    import pipeline.filters.c4 as c4
    import pipeline.filters.pii_outputs as pii_outputs
    import pipeline.stats
    from pipeline.filters.text_stats import DocStats
    from pipeline.io import warc

    original_read = warc.iter_records
    warc.iter_records = lambda *a, **k: clock.iterate("WARC read (gzip, headers)", original_read(*a, **k))
    clock.wrap(stage, "decode_html", "charset decode")
    clock.wrap(html, "parse_html", "HTML parse (lxml, once per page)")
    clock.wrap(html, "visible_chars", "visible-text count (cascade signal)")
    original_traf = html.run_trafilatura

    def traf(tree, url, kwargs):
        name = "trafilatura, first pass" if kwargs == cascade_first else "trafilatura, quality_first pass"
        with clock.step(name):
            return original_traf(tree, url, kwargs)

    html.run_trafilatura = traf
    clock.wrap(trafilatura, "baseline", "trafilatura, baseline pass")
    clock.wrap(html, "walk_text", "text walk (deep pages)")
    for attr in ("normalize_url", "registered_domain", "url_host", "first_blocked"):
        clock.wrap(stage, attr, "URL normalise + pre-checks")
    for attr in ("url", "message", "text"):
        clock.wrap(pii_outputs.OutputRedactor, attr, "PII in URLs / errors (extract)")
    clock.wrap(stage, "identify", "language id (lid.176, batched)")
    clock.wrap(stage._Extractor, "finish", "extract rows -> Arrow batch")
    clock.wrap(pipeline.stats.StageCounts, "add", "stage counts (both stages)")
    clock.wrap(c4, "count_sentences", "filter: c4 sentence count (Punkt)")
    for prop in vars(DocStats).values():  # the lazy views every heuristic family shares
        if isinstance(prop, functools.cached_property):
            prop.func = clock.timed(prop.func, "filter: text split (DocStats views)")
    clock.wrap(jobs.output._Sink, "_flush", "Parquet write (both stages)")


def measure(warc_path: Path, rounds_label: str) -> dict:
    """One measured pass in this process (after a warm-up); CPU seconds per step and trafilatura's own."""
    import pyarrow as pa
    import trafilatura

    import jobs.extract
    import jobs.rowwise
    from jobs.output import _Sink
    from pipeline.config import load_config
    from pipeline.extract.html import Cascade
    from pipeline.io import warc

    cfg = load_config(str(REPO / "configs" / "default.yaml"))
    cascade = Cascade.from_config(cfg["extract"])
    records = [r for r in warc.iter_records(str(warc_path), "bench") if isinstance(r, warc.RawRecord)]

    def trafilatura_alone(subset) -> float:
        started = time.thread_time()
        for record in subset:
            trafilatura.extract(record.payload, url=record.url, **cascade.first)
        return time.thread_time() - started

    def fused_pass(path: Path, folder: Path, clock: StepClock | None) -> None:
        extract = jobs.extract.step(cfg)
        steps = [extract, jobs.rowwise.stage_step("filter", cfg, extract.schema)]
        stream = iter([pa.RecordBatch.from_pydict({"path": [str(path)]})])
        for i, step in enumerate(steps):
            sink = _Sink(step, folder / step.name, 0)
            stream = sink.write(step.transform(stream))
            if clock is not None:
                name = GLUE[i]
                stream = clock.iterate(name, stream)
        for _ in stream:
            pass

    WORK.mkdir(parents=True, exist_ok=True)  # under the measured tree's own bench/out
    with tempfile.TemporaryDirectory(dir=WORK) as tmp:
        warm = Path(tmp) / "warm.warc.gz"
        _head_warc(warc_path, warm, WARMUP_PAGES)
        fused_pass(warm, Path(tmp) / "warm", None)
        trafilatura_alone(records[:WARMUP_PAGES])
        clock = StepClock()
        instrument(clock, cascade.first)
        for cls in _families():
            clock.wrap(cls, "apply", f"filter: {cls.section}")
        started, process_started = time.thread_time(), time.process_time()
        gc.callbacks.append(clock.on_gc)
        fused_pass(warc_path, Path(tmp) / "run", clock)
        gc.callbacks.remove(clock.on_gc)
        total, process_total = time.thread_time() - started, time.process_time() - process_started
        alone = trafilatura_alone(records)
    return {
        "label": rounds_label,
        "records": len(records),
        "total_cpu_s": total,
        "process_cpu_s": process_total,  # every thread of the process: equal unless a library used threads
        "steps_cpu_s": dict(clock.totals),
        "trafilatura_alone_cpu_s": alone,
    }


def _families():
    from pipeline.filters.stage import FAMILIES

    return FAMILIES


def _head_warc(src: Path, dest: Path, n: int) -> None:
    """The first `n` records of a per-record-gzip WARC (each record its own gzip member)."""
    from warcio.archiveiterator import ArchiveIterator

    with src.open("rb") as fh:
        it = ArchiveIterator(fh)
        for i, _ in enumerate(it):
            if i == n:
                end = it.get_record_offset()
                break
        else:
            end = src.stat().st_size
    dest.write_bytes(src.read_bytes()[:end])


def export_ref(ref: str) -> Path:
    """The tree of git ref `ref` under bench/out/page_cost/ref-<sha>, with this script copied in."""
    sha = subprocess.run(["git", "rev-parse", ref], cwd=REPO, capture_output=True, text=True, check=True)
    sha = sha.stdout.strip()
    dest = WORK / f"ref-{sha[:10]}"
    if not dest.exists():
        tmp = dest.with_suffix(".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", sha], cwd=REPO, capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
        tmp.rename(dest)
    for script in (Path(__file__), REPO / "bench" / "common" / "step_clock.py"):  # the measuring code
        shutil.copyfile(script, dest / script.relative_to(REPO))
    shared = WORK / REPO.parent.joinpath("shared").name  # the config's ../shared paths, seen from the export
    if not shared.exists():
        shared.symlink_to(REPO.parent / "shared")
    return dest


def run_side(code: Path, warc_path: Path, label: str) -> dict:
    env = {"PYTHONPATH": str(code)}
    cmd = [str(PY_OURS), "-m", "bench.page_cost", "--measure", str(warc_path), "--label", label]
    done = subprocess.run(cmd, cwd=code, capture_output=True, text=True, env={**_env(), **env})
    if done.returncode:
        sys.exit(f"failed: {' '.join(cmd)}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _env() -> dict:
    import os

    return dict(os.environ)


def spark_per_record(warc_path: Path, n: int) -> dict:
    """CPU per record of `crawl-to-shards --until filter` under Spark (local[1], one core, whole process
    tree): the run on every page less the run on the first WARMUP_PAGES, over the pages between."""
    from bench.common.proc_cpu import become_subreaper, run_measured

    become_subreaper()
    head = WORK / f"head{WARMUP_PAGES}.warc.gz"
    _head_warc(warc_path, head, WARMUP_PAGES)
    cpu = {}
    for label, path in (("head", head), ("all", warc_path)):
        out = WORK / f"spark-{label}"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*ONE_CORE, str(PY_OURS), "-m", "jobs", "crawl-to-shards", "--until", "filter"]
        cmd += ["--input", str(path), "--output", str(out), "--set", "spark.master=local[1]"]
        cpu[label] = run_measured(cmd, cwd=REPO)["cpu_s"]
        shutil.rmtree(out, ignore_errors=True)
    return {"cpu_s": cpu, "ms_per_record": 1e3 * (cpu["all"] - cpu["head"]) / (n - WARMUP_PAGES)}


# The cascade's work beyond trafilatura's first pass (pipeline/extract/html.py): what "trafilatura alone"
# does not do, a choice of extraction quality (BENCHMARKS.md "Extraction cascade"), not overhead.
CASCADE_STEPS = (
    "trafilatura, quality_first pass",
    "trafilatura, baseline pass",
    "visible-text count (cascade signal)",
)


def summarize(runs: list[dict]) -> dict:
    """Median CPU ms per record per step, of the whole pass and of trafilatura alone; the ratios to
    trafilatura alone are medians of each round's ratio (both halves of a round ran in one process)."""
    n = runs[0]["records"]
    steps = sorted({s for r in runs for s in r["steps_cpu_s"]})
    per = {s: statistics.median(1e3 * r["steps_cpu_s"].get(s, 0.0) / n for r in runs) for s in steps}

    def ratio(run: dict, less: tuple[str, ...] = ()) -> float:
        ours = run["total_cpu_s"] - sum(run["steps_cpu_s"].get(s, 0.0) for s in less)
        return ours / run["trafilatura_alone_cpu_s"]

    return {
        "steps_ms": per,
        "total_ms": statistics.median(1e3 * r["total_cpu_s"] / n for r in runs),
        "trafilatura_alone_ms": statistics.median(1e3 * r["trafilatura_alone_cpu_s"] / n for r in runs),
        "ratio": statistics.median(ratio(r) for r in runs),
        "ratio_first_pass_only": statistics.median(ratio(r, CASCADE_STEPS) for r in runs),
    }


def table(sides: dict[str, dict], n: int, rounds: int, command: str) -> dict:
    labels = list(sides)
    steps = sorted(
        {s for side in sides.values() for s in side["steps_ms"]},
        key=lambda s: -sides[labels[-1]]["steps_ms"].get(s, 0.0),
    )
    columns = ["step", *(f"{label}: CPU ms / record" for label in labels), "share of ours"]
    ours = sides[labels[-1]]
    rows = []
    for s in steps:
        cells = [f"{side['steps_ms'].get(s, 0.0):.2f}" for side in sides.values()]
        rows.append([s, *cells, f"{100 * ours['steps_ms'].get(s, 0.0) / ours['total_ms']:.1f} %"])
    rows.append(["**whole pass**", *(f"{side['total_ms']:.1f}" for side in sides.values()), "100 %"])
    rows.append(
        [
            "trafilatura alone, same pages (payload bytes, our first-pass settings)",
            *(f"{side['trafilatura_alone_ms']:.1f}" for side in sides.values()),
            "",
        ]
    )
    rows.append(
        [
            "**ours / trafilatura alone** (target <= 1.4)",
            *(f"{side['ratio']:.2f}x" for side in sides.values()),
            "",
        ]
    )
    rows.append(
        [
            "ours less the cascade's later passes and its visible-text count / trafilatura alone",
            *(f"{side['ratio_first_pass_only']:.2f}x" for side in sides.values()),
            "",
        ]
    )
    notes = (
        "CPU time of the working thread (`time.thread_time`), not wall time: the machine is shared, "
        "so wall time depends on the other users' load (the process's CPU time over the pass is in the "
        "result's figures: it matches, no library works on other threads). Medians of the rounds, each a fresh process after a "
        f"{WARMUP_PAGES}-page warm-up; the fused extract -> filter pass of `crawl-to-shards` driven "
        "in-process (no Spark, so no JVM and no Arrow transfer to it), its task sinks writing real Parquet. "
        "A step's time excludes the steps timed inside it; the filter families include the lazy text split "
        "the first one to read a view pays. The trafilatura passes after the first run only on pages the "
        "first pass kept little of (the extraction cascade)."
    )
    return {
        "title": f"CPU per record by step, extract + filter, {n} real heavy pages (medians of {rounds})",
        "command": command,
        "columns": columns,
        "rows": rows,
        "notes": notes,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--every", type=int, default=4, help="every n-th extraction-set page (4: 280 pages)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare-ref", help="also measure the code of this git ref (a column before ours)")
    parser.add_argument("--spark", action="store_true", help="also the per-record CPU under Spark (local[1])")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # one measured pass (run in a subprocess)
    parser.add_argument("--label", default="ours", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(Path(args.measure), args.label)))
        return
    warc_path, n = build_input(args.every)
    codes = {f"ref {args.compare_ref}": export_ref(args.compare_ref)} if args.compare_ref else {}
    codes["ours"] = REPO
    runs: dict[str, list[dict]] = {label: [] for label in codes}
    for r in range(args.rounds):
        for label, code in codes.items():
            runs[label].append(run_side(code, warc_path, label))
            print(f"round {r + 1} {label}: {runs[label][-1]['total_cpu_s']:.1f} s CPU", flush=True)
    sides = {label: summarize(side_runs) for label, side_runs in runs.items()}
    command = "python -m bench.page_cost " + " ".join(sys.argv[1:])
    from bench.results_table import render, write_result

    tables = [table(sides, n, args.rounds, command.strip())]
    figures: dict = {"runs": runs}
    if args.spark:
        figures["spark"] = spark_per_record(warc_path, n)
        tables.append(spark_table(figures["spark"], sides["ours"], n, command.strip()))
    print(render(tables))
    write_result("page_cost", tables, figures)


def spark_table(spark: dict, ours: dict, n: int, command: str) -> dict:
    alone = ours["trafilatura_alone_ms"]
    rows = [
        ["in-process pass (the table above, ours)", f"{ours['total_ms']:.1f}", f"{ours['total_ms'] / alone:.2f}x"],
        ["`crawl-to-shards --until filter` under Spark", f"{spark['ms_per_record']:.1f}", f"{spark['ms_per_record'] / alone:.2f}x"],
        ["trafilatura alone (the table above)", f"{alone:.1f}", "1.00x"],
    ]  # fmt: skip
    return {
        "title": f"Per record under Spark: local[1] on one core, whole process tree ({n} pages)",
        "command": command,
        "columns": ["measure", "CPU ms / record", "vs trafilatura alone"],
        "rows": rows,
        "notes": (
            "Spark's figure is the process tree's CPU (JVM and Python worker included, "
            "`bench.common.proc_cpu`) of the run on all pages less that of the run on the first "
            f"{WARMUP_PAGES}, over the pages between: the fixed cost (JVM start, imports, models) cancels. "
            "One run each, so it carries the load's noise."
        ),
    }


if __name__ == "__main__":
    main()
