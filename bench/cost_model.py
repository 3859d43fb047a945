"""Cost model on paper: CPU core-hours per TB of WARC and per Common Crawl dump, for each stage.

    .venv/bin/python -m bench.cost_model [--e2e bench/out/e2e_vs_datatrove.json]

Inputs are the per-core rates measured by bench/e2e_vs_datatrove.py (CPU seconds per document entering
each stage, medians of its rounds) and the published size of one crawl. What is published and what is
assumed is kept apart below; every constant names its source.

Arithmetic: core-hours(stage) = documents entering the stage x CPU seconds per document / 3600, where
  CPU seconds per document = (CPU seconds on the benchmark input - CPU seconds on a 10-page input)
  / (documents entering the stage in the one - in the other): the fixed cost of a Spark job or a
  datatrove task (start-up, model and list loads, planning) is paid once per job, not per page, over
  a dump; extract is counted per HTML page for every side;
  documents entering extract = pages in the dump (every HTML response record is read and extracted);
  documents entering filter  = pages x KEEP_AFTER_EXTRACT;
  documents entering dedup   = that x KEEP_AFTER_FILTER.
Per TB of WARC divides the dump total by the dump's compressed WARC size.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from bench.results_table import write_result

REPO = Path(__file__).resolve().parent.parent
TIB = 2**40
TB = 10**12

# --- published -------------------------------------------------------------------------------------
# Common Crawl, "December 2024 crawl archive now available" (CC-MAIN-2024-51):
# "2.64 billion web pages (or 394 TiB of uncompressed content)".
DUMP = "CC-MAIN-2024-51"
DUMP_PAGES = 2.64e9
DUMP_UNCOMPRESSED_TIB = 394.0
# Common Crawl, "February 2019 crawl archive now available" (CC-MAIN-2019-09), the last announcement
# we found that tabulates compressed sizes: 225 TiB uncompressed, 64,000 WARC files, 59.86 TiB compressed.
CC2019_UNCOMPRESSED_TIB, CC2019_WARC_COMPRESSED_TIB = 225.0, 59.86
# datatrove examples/fineweb.py (the code that built FineWeb), per dump, Slurm allocations (time LIMITS,
# not measured usage; cpus_per_task defaults to 1 where not given):
FINEWEB_ALLOCATION = {
    "extract+filter (base processing)": 8000 * 1 * 10.0,  # tasks=8000, time="10:00:00"
    "minhash signatures": 1000 * 1 * 5.0,  # tasks=1000, time="5:00:00"
    "minhash buckets": 14 * 50 * 3 * 2.0,  # tasks=num_buckets*50, cpus_per_task=3, time="02:00:00"
    "minhash cluster": 1 * 8 * 30.0,  # tasks=1, cpus_per_task=8, time="30:00:00"
    "minhash filter": 1000 * 1 * 5.0,  # tasks=1000, time="5:00:00"
}

# --- assumed ---------------------------------------------------------------------------------------
# Compressed WARC size of the 2024 dump: its uncompressed size over the 2019 compression ratio (3.76).
DUMP_WARC_COMPRESSED_TIB = DUMP_UNCOMPRESSED_TIB / (CC2019_UNCOMPRESSED_TIB / CC2019_WARC_COMPRESSED_TIB)
# Share of pages that leave extract as English text with lang score >= 0.65: Common Crawl's language
# statistics put English at ~46% of pages (March 2023); extraction failures and the URL filter take a few %.
KEEP_AFTER_EXTRACT = 0.43
# Share of English documents the heuristic filters keep. Not published per dump; ~0.5 is our assumption
# (on the benchmark pages, which are curated articles, the measured share is higher; see the e2e table).
KEEP_AFTER_FILTER = 0.5


def stage_docs(pages: float) -> dict[str, float]:
    filtered_in = pages * KEEP_AFTER_EXTRACT
    return {"extract": pages, "filter": filtered_in, "dedup": filtered_in * KEEP_AFTER_FILTER}


def seconds_per_doc(result: dict) -> dict[str, dict[str, float]]:
    """side -> stage -> CPU seconds per document entering the stage, beyond the fixed cost of a job
    (each side measured once on a 10-page input): over a dump that cost is paid once per Spark job
    or datatrove task, not per page."""
    summary, fixed = result["summary"], result.get("fixed", {})
    # extract: per HTML page, the unit Common Crawl counts, for every side alike. Our docs_in also
    # counts the non-HTML response records (images, scripts) we reject; datatrove's reader skips them.
    html = summary.get("datatrove", {}).get("stages", {}).get("extract", {}).get("docs_in")
    html_fixed = fixed.get("datatrove", {}).get("extract", {}).get("docs_in", 0)
    out = {}
    for side, s in summary.items():
        out[side] = {}
        for stage, st in s["stages"].items():
            fx = fixed.get(side, {}).get(stage, {"cpu_s": 0.0, "docs_in": 0})
            docs = (html - html_fixed) if stage == "extract" and html else st["docs_in"] - fx["docs_in"]
            if docs > 0:
                out[side][stage] = (st["cpu_s"] - fx["cpu_s"]) / docs
    return out


def core_hours(result: dict, pages: float) -> dict[str, dict[str, float]]:
    """side -> stage -> core-hours for `pages` pages."""
    docs = stage_docs(pages)
    return {
        side: {stage: docs[stage] * sec / 3600 for stage, sec in stages.items()}
        for side, stages in seconds_per_doc(result).items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--e2e", type=Path, default=REPO / "bench" / "out" / "e2e_vs_datatrove.json")
    args = parser.parse_args()
    result = json.loads(args.e2e.read_text())

    warc_tb = DUMP_WARC_COMPRESSED_TIB * TIB / TB
    hours = core_hours(result, DUMP_PAGES)
    print(
        f"{DUMP}: {DUMP_PAGES / 1e9:.2f} B pages (published), {DUMP_WARC_COMPRESSED_TIB:.0f} TiB = {warc_tb:.0f} TB "
        f"compressed WARC (assumed), {DUMP_PAGES / warc_tb / 1e6:.1f} M pages per TB"
    )
    sides = list(hours)
    print(
        "\n| stage | docs entering (per dump) | "
        + " | ".join(f"{s}: core-h per TB | {s}: core-h per dump" for s in sides)
        + " |"
    )
    print("|---|---:|" + "---:|---:|" * len(sides))
    docs = stage_docs(DUMP_PAGES)
    for stage in STAGES:
        cells = []
        for side in sides:
            h = hours[side].get(stage)
            cells += ["–", "–"] if h is None else [f"{h / warc_tb:,.1f}", f"{h:,.0f}"]
        print(f"| {stage} | {docs[stage] / 1e9:.2f} B | " + " | ".join(cells) + " |")
    cells = []
    for side in sides:
        total = sum(hours[side].values())
        cells += [f"**{total / warc_tb:,.1f}**", f"**{total:,.0f}**"]
    print("| **total** | | " + " | ".join(cells) + " |")

    print(
        "\nFineWeb's published per-dump allocations (examples/fineweb.py; Slurm time limits, upper bounds):"
    )
    for step, h in FINEWEB_ALLOCATION.items():
        print(f"- {step}: <= {h:,.0f} core-hours ({h / warc_tb:,.1f} per TB)")
    print(f"- total: <= {sum(FINEWEB_ALLOCATION.values()):,.0f} core-hours")
    figures = {
        "dump": DUMP,
        "warc_tb": warc_tb,
        "docs_entering": {stage: docs[stage] for stage in STAGES},
        "core_hours": {  # side -> stage -> [per TB of compressed WARC, per dump]
            side: {stage: [h / warc_tb, h] for stage, h in hours[side].items()} for side in sides
        },
        "total": {side: [sum(hours[side].values()) / warc_tb, sum(hours[side].values())] for side in sides},
    }
    print(write_result("cost_model", [table(figures)], figures))


STAGES = ("extract", "filter", "dedup")
SIDE_NAMES = {"spark": "ours spark", "pure": "ours pure"}  # the sides of bench/e2e_vs_datatrove.py


def table(figures: dict) -> dict:
    """Core-hours per TB and per dump, per stage and side, with the totals."""
    sides = list(figures["core_hours"])
    columns = ["stage", "docs entering per dump"]
    for side in sides:
        columns += [f"{SIDE_NAMES.get(side, side)}: core-h/TB", "per dump"]
    rows = []
    for stage in STAGES:
        row = [stage, f"{figures['docs_entering'][stage] / 1e9:.2f} B"]
        for side in sides:
            cell = figures["core_hours"][side].get(stage)
            row += ["\u2013", "\u2013"] if cell is None else [f"{cell[0]:,.1f}", f"{cell[1]:,.0f}"]
        rows.append(row)
    total = ["**total**", ""]
    for side in sides:
        per_tb, per_dump = figures["total"][side]
        total += [f"**{per_tb:,.1f}**", f"**{per_dump:,.0f}**"]
    rows.append(total)
    return {
        "title": f"CPU core-hours for one Common Crawl dump ({figures['dump']}), from the end-to-end rates",
        "command": "python -m bench.cost_model",
        "columns": columns,
        "rows": rows,
    }


if __name__ == "__main__":
    main()
