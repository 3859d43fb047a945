"""The end-to-end headline: what a user runs, side by side with datatrove, one core each.

    .venv/bin/python -m bench.e2e_headline [--input heavy warc_samples] [--repeats N ...] [--rounds 1]

Two inputs, each copied `--repeats` times (default: each input's own sizes below); one table, a row per
input and size. Rerunning one input replaces its rows in bench/results/e2e_headline.json and keeps the
other input's:

  heavy         real, heavy pages: every 2nd HTML page of the extraction sets that record their real URL
                (WCXB, Scrapinghub AEB, trafilatura's eval set: 560 pages), wrapped as 200 text/html WARC
                records, 100 pages per `.warc.gz` (`bench.common.inputs.heavy_crawl`); 1 and 8 copies.
                Each record states WARC-Identified-Payload-Type text/html, as Common Crawl's do, so
                datatrove's reader takes every page (without it, it sniffs 70 of the 560 as JavaScript or
                other types and skips them).
  warc_samples  the real held-out crawl excerpts of ../shared/data/warc_samples (Common Crawl 2020-34 and
                2024-22, dolma, Internet Archive, Wikipedia, ClueWeb; the `.warc.gz` files, not the
                deliberately broken warcio-testdata: 231 HTTP response records, 76 of them HTML with status
                200); 3 copies are 693 records, 24 copies 5,544.

  ours       `python -m jobs extract` then `python -m jobs filter`, two processes as a scheduler runs
             them, `--set spark.master=local[1]`, under `taskset -c 0`;
  ours fused `python -m jobs crawl-to-shards --until filter`: one process, extract and filter fused in one
             Spark pass (both stages' outputs and stats written, as `make crawl-to-shards` runs them);
  datatrove  bench/peers/datatrove_fineweb.py --main-only --no-extract-dedup (WarcReader -> URLFilter -> Trafilatura with a
             timeout that drops no page -> LanguageFilter -> Gopher/C4/FineWeb filters -> PIIFormatter
             -> JsonlWriter) in .venv-bench, under `taskset -c 0`.

On warc_samples datatrove's WarcReader yields fewer documents from the same files (it skips records it
cannot parse or that are not HTML responses, e.g. all of the ClueWeb09 file), so it also extracts fewer
pages; the input column shows both counts.

Both sides are measured as whole process trees (bench/common/proc_cpu.py): process start, imports, JVM,
Spark's Python workers and datatrove's extraction sandbox are all counted, for both. The headline is
datatrove's CPU time over ours (higher = we are faster); wall time is shown too, but the machine is
shared, so CPU time is the fair figure. Kept documents are compared by normalised URL.

`--tiny N`: a dry run of every side whose figures mean nothing: the heavy input is its first N pages, and
the table is printed, not written to bench/results.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
from pathlib import Path

from bench.common.env import ONE_CORE, OUT, PY_OURS, PY_PEER, REPO, RESULTS, pinned
from bench.common.inputs import copy_warc_samples, heavy_crawl
from bench.common.proc_cpu import become_subreaper, run_measured
from bench.results_table import render, write_result
from pipeline import layout
from pipeline.stats import TOTAL

WORK = OUT / "headline"
HEAVY_EVERY = 2  # every 2nd extraction-set page
INPUTS = {  # name: (label in the table, default copies), in table order
    "heavy": ("heavy pages", [1, 8]),
    "warc_samples": ("warc_samples", [3, 24]),
}


def build_input(repeats: int, name: str = "warc_samples", tiny: int | None = None) -> Path:
    """The folder of `repeats` copies of input `name` (built once, kept under bench/out/headline)."""
    if name == "warc_samples":
        return copy_warc_samples(WORK / f"warcs_x{repeats}", repeats)
    folder = WORK / (f"heavy_tiny{tiny}_x{repeats}" if tiny else f"heavy_x{repeats}")
    warcs, pages = heavy_crawl(folder, HEAVY_EVERY, repeats, tiny)
    print(f"heavy input: {pages} pages per copy, {repeats} copies, in {warcs}", flush=True)
    return warcs


def kept_urls_parquet(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    return pq.read_table(folder, columns=["url"]).column("url").to_pylist()


def side_ours(warcs: Path, fused: bool = False, cores: int = 1, out: Path | None = None) -> dict:
    """Our run on `cores` CPUs (`local[cores]` pinned to them): two jobs, or the fused pass."""
    import pyarrow.parquet as pq

    out = out or WORK / ("ours_fused" if fused else "ours")
    shutil.rmtree(out, ignore_errors=True)
    cpu = wall = 0.0
    commands = (
        [["crawl-to-shards", "--until", "filter", "--input", str(warcs)]]
        if fused
        else [
            ["extract", "--input", str(warcs)],
            ["filter", "--input", str(layout.docs_dir(out, "extract"))],
        ]
    )
    for command in commands:
        cmd = [*pinned(cores), str(PY_OURS), "-m", "jobs", *command, "--output", str(out)]
        cmd += ["--set", f"spark.master=local[{cores}]"]
        # On every core of the machine, the /proc sampler would take CPU from the measured run.
        measured = run_measured(cmd, cwd=REPO, sample_every_s=0.05 if cores == 1 else 0.5)
        cpu, wall = cpu + measured["cpu_s"], wall + measured["wall_s"]
    stats = pq.read_table(layout.stats_path(out, "extract")).to_pylist()
    docs_in = next(r for r in stats if r["rule"] == TOTAL)["docs_in"]
    return {
        "cpu_s": cpu,
        "wall_s": wall,
        "records": docs_in,
        "kept": kept_urls_parquet(layout.docs_dir(out, "filter")),
    }


def side_datatrove(warcs: Path) -> dict:
    from bench.data_value_vs_datatrove import lid_model

    result_path = WORK / "peer.json"
    cmd = [
        *ONE_CORE,
        str(PY_PEER),
        "-m",
        "bench.peers.datatrove_fineweb",
        "--main-only",
        "--no-extract-dedup",
    ]
    cmd += ["--warcs", str(warcs), "--work", str(WORK / "peer_work"), "--json", str(result_path)]
    cmd += ["--lid", lid_model()]  # the lid.176 file our side loads, wherever our environment has it
    measured = run_measured(cmd, env={"HF_HOME": str(WORK / "hf_home")}, cwd=REPO)
    result = json.loads(result_path.read_text())
    steps = result["executors"][0]["steps"]
    trafilatura = next(s for s in steps if "Trafilatura" in s["name"])
    reader = next(s for s in steps if "Warc" in s["name"])
    return {
        "cpu_s": measured["cpu_s"],
        "wall_s": measured["wall_s"],
        "records": reader["stats"].get("documents"),
        "timeouts": trafilatura["stats"].get("timeout", 0),
        "kept": result["kept_urls_filtered"],
    }


def same_urls(a: list[str], b: list[str]) -> float:
    from pipeline.urls import normalize_url

    sa = {normalize_url(u) or u for u in a if u}
    sb = {normalize_url(u) or u for u in b if u}
    return len(sa & sb) / max(1, len(sa | sb))


def measure_size(
    name: str, repeats: int, rounds: int, reuse_ours: bool, tiny: int | None
) -> tuple[list, dict]:
    """The table row of one input at one size, and the raw CPU/wall figures of each side's rounds."""
    warcs = build_input(repeats, name, tiny)
    sides = {
        "ours": side_ours,
        "ours_fused": lambda w: side_ours(w, fused=True),
        "datatrove": side_datatrove,
    }
    runs: dict[str, list[dict]] = {side: [] for side in sides}
    for r in range(rounds):
        order = list(sides) if r % 2 == 0 else list(reversed(sides))
        for side in order:
            saved = WORK / f"{name}{f'_tiny{tiny}' if tiny else ''}_{side}_x{repeats}_r{r}.json"
            if side.startswith("ours") and reuse_ours:
                result = json.loads(saved.read_text())
            else:
                result = sides[side](warcs)
                saved.write_text(json.dumps(result))
            runs[side].append(result)
            print(
                f"{name} x{repeats} round {r} {side}: CPU {result['cpu_s']:.1f} s, wall {result['wall_s']:.1f} s",
                flush=True,
            )
    ours, fused, peer = runs["ours"], runs["ours_fused"], runs["datatrove"]
    cpu_o, cpu_f, cpu_p = (statistics.median(x["cpu_s"] for x in side) for side in (ours, fused, peer))
    wall_o, wall_f, wall_p = (statistics.median(x["wall_s"] for x in side) for side in (ours, fused, peer))
    records = ours[-1]["records"]
    assert sorted(fused[-1]["kept"]) == sorted(ours[-1]["kept"]), "fused and two-job runs kept different docs"
    row = [
        f"{INPUTS[name][0]} {repeats}x ({records} records; datatrove's reader yields {peer[-1]['records']})",
        round(cpu_o, 1),
        round(cpu_f, 1),
        round(cpu_p, 1),
        round(records / cpu_o, 1),
        round(records / cpu_p, 1),
        f"{cpu_p / cpu_o:.2f}x",
        f"{cpu_p / cpu_f:.2f}x",
        f"{wall_p / wall_o:.2f}x / {wall_p / wall_f:.2f}x",
        f"{len(ours[-1]['kept'])} / {len(peer[-1]['kept'])} ({same_urls(ours[-1]['kept'], peer[-1]['kept']):.2f})",
        peer[-1]["timeouts"],
    ]
    raw = {side: [{k: x[k] for k in ("cpu_s", "wall_s")} for x in results] for side, results in runs.items()}
    return row, raw


COLUMNS = [
    "input",
    "ours CPU s (2 jobs)",
    "ours CPU s (fused)",
    "datatrove CPU s",
    "ours records/s/core (2 jobs)",
    "datatrove records/s/core",
    "speed-up (CPU, 2 jobs)",
    "speed-up (CPU, fused)",
    "speed-up (wall, 2 jobs / fused)",
    "kept ours / datatrove (URL Jaccard)",
    "datatrove pages timed out",
]
NOTES = (
    "Speed-up = datatrove's time over ours (higher = we are faster). "
    "Ours: `python -m jobs extract` then `python -m jobs filter` (two processes), and "
    "`python -m jobs crawl-to-shards --until filter` (one process, the two stages fused; same kept documents, "
    "asserted). datatrove 0.10.1: "
    "FineWeb's main chain with PIIFormatter (bench/peers/datatrove_fineweb.py --main-only --no-extract-dedup). CPU = whole "
    "process tree, imports and start-up included on both sides. Inputs: heavy pages = every 2nd HTML page of the "
    "extraction sets that record their URL, as text/html WARC records, 100 per file (both sides read every page); warc_samples = the real crawl excerpts "
    "of ../shared/data/warc_samples."
)


def table(inputs: dict[str, dict]) -> dict:
    """The one table over every input measured so far (`inputs`: name -> its command, rows, notes)."""
    shown = [name for name in INPUTS if name in inputs]
    reused = [name for name in shown if inputs[name].get("reuse_ours")]
    return {
        "title": "End to end, extract + filter, one core each (taskset -c 0, Spark local[1]), process start included",
        "command": "; ".join(inputs[name]["command"] for name in shown),
        "columns": COLUMNS,
        "rows": [row for name in shown for row in inputs[name]["rows"]],
        "notes": NOTES
        + "".join(
            f" {name}: our side was reused from the previous run (--reuse-ours), not alternated with the peer."
            for name in reused
        ),
    }


def previous_inputs() -> dict[str, dict]:
    """The inputs of the result file as it stands (rows of an input not rerun are kept)."""
    path = RESULTS / "e2e_headline.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text()).get("figures", {}).get("inputs", {})


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--input", nargs="+", choices=list(INPUTS), default=list(INPUTS))
    parser.add_argument(
        "--repeats", type=int, nargs="+", help="copies of each input (default: 1 8 heavy, 3 24 warc_samples)"
    )
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--reuse-ours",
        action="store_true",
        help="take our side from the previous run's bench/out/headline/<input>_ours*_x<N>_r<R>.json (a rerun of the peer only)",
    )
    parser.add_argument("--tiny", type=int, metavar="N", help="dry run: N heavy pages, nothing written")
    args = parser.parse_args()
    become_subreaper()
    inputs = {}
    for name in args.input:
        repeats = args.repeats or INPUTS[name][1]
        rows, raw = [], {}
        for n in repeats:
            row, raw[str(n)] = measure_size(name, n, args.rounds, args.reuse_ours, args.tiny)
            rows.append(row)
            print(row, flush=True)
        command = f"python -m bench.e2e_headline --input {name} --repeats {' '.join(map(str, repeats))}"
        command += f" --rounds {args.rounds}" + (" --reuse-ours" if args.reuse_ours else "")
        inputs[name] = {"command": command, "rows": rows, "runs": raw, "reuse_ours": args.reuse_ours}
    if args.tiny:
        print(render([table(inputs)]))
        return
    inputs = {**previous_inputs(), **inputs}
    print(write_result("e2e_headline", [table(inputs)], {"inputs": inputs}))


if __name__ == "__main__":
    main()
