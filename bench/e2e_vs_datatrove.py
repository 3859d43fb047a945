"""End to end: the same WARCs through our pipeline and datatrove's FineWeb pipeline, side by side.

    .venv/bin/python -m bench.e2e_vs_datatrove [--rounds 2] [--dup-every 2] [--sides spark,pure,datatrove]

Input (built under bench/out/e2e/warcs/, gitignored): the real WARC excerpts of
../shared/data/warc_samples (Common Crawl 2020-34 and 2024-22, dolma, Internet Archive, Wikipedia,
ClueWeb; not the deliberately broken warcio-testdata) plus one WARC of the extraction-benchmark pages
(scrapinghub AEB and WCXB, mostly English), gzip per record with `WARC-Identified-Payload-Type` as
Common Crawl writes it; every `--dup-every`-th page is written a second time at a mirror host with an
extra banner line, so MinHash has near-duplicates to find.

Three sides, alternating in each round (the machine is shared, so only ratios within a run mean much):
  spark      our stages as a scheduled job runs them: `python -m jobs extract|filter|dedup` with
             `--set spark.master=local[1]`, one process tree per stage (JVM start-up included);
  pure       bench/peers/ours_pure.py: our stage functions in one Python process, no Spark: `process_warc_file`, then
             `FilterStage(cfg["filter"]).apply`, then URL dedup, MinHash signatures + LSH bands +
             union-find and CCNet line dedup (`pipeline.dedup`): the per-document work without the engine;
  datatrove  bench/peers/datatrove_fineweb.py in .venv-bench (its steps are listed there).
CPU time is that of the whole process tree: this driver makes itself a child subreaper, so the JVM,
Spark's Python daemon and datatrove's extraction sandbox are reaped here and counted in
RUSAGE_CHILDREN; Spark's Python workers are auto-reaped (their daemon ignores SIGCHLD), so their CPU
is sampled from /proc while they run. docs/s per core = documents / CPU seconds.
Fixed costs: each side once more on a 10-page WARC; what a stage costs beyond that, per document, is
what a dump-sized job pays (bench/cost_model.py extrapolates it).
Overlap of kept documents: by normalised URL (`pipeline.urls.normalize_url`), after the quality
filters and after dedup. Tables: bench/results/e2e_vs_datatrove.json (figures also in
bench/out/e2e_vs_datatrove.json, bench/cost_model.py's input).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import shutil
import statistics
import sys
import time
from pathlib import Path

from bench.common.corpora import load_aeb, load_wcxb
from bench.common.e2e_tables import STAGES, beyond_fixed_ratios, marginal_table, stage_table
from bench.common.env import OUT, PY_OURS, PY_PEER, REPO
from bench.common.inputs import copy_warc_samples
from bench.common.proc_cpu import become_subreaper, run_measured
from bench.results_table import render, write_result

E2E = OUT / "e2e"
WARCS = E2E / "warcs"
SPARK_SETTINGS = ["spark.master=local[1]", "spark.shuffle_partitions=2"]


# --- input -----------------------------------------------------------------------------------------
def write_bench_warc(path: Path, dup_every: int, limit: int | None = None) -> int:
    """The benchmark pages as Common-Crawl-like response records; returns the number of records."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = [(p["url"], p["html"]) for p in load_aeb()] + [(p["url"], p["html"]) for p in load_wcxb()]
    pages = pages[:limit]
    mirrors = [
        (
            url.replace("://", "://mirror.", 1),
            re.sub(r"(<body[^>]*>)", r"\1<p>Archived copy of this page.</p>", html, count=1),
        )
        for url, html in pages[::dup_every]
    ]
    records = pages + mirrors
    with path.open("wb") as fh:
        writer = WARCWriter(fh, gzip=True)
        for i, (url, html) in enumerate(records):
            http = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            headers = {
                "WARC-Record-ID": f"<urn:uuid:e2e00000-0000-0000-0000-{i:012d}>",
                "WARC-Date": "2024-03-01T00:00:00Z",
                "WARC-Identified-Payload-Type": "text/html",
            }
            payload = io.BytesIO(html.encode("utf-8"))
            writer.write_record(
                writer.create_warc_record(
                    url, "response", payload=payload, http_headers=http, warc_headers_dict=headers
                )
            )
    return len(records)


def build_inputs(dup_every: int) -> dict:
    shutil.rmtree(WARCS, ignore_errors=True)
    copy_warc_samples(WARCS)
    pages = write_bench_warc(WARCS / "bench-pages.warc.gz", dup_every)
    files = sorted(WARCS.glob("*.warc.gz"))
    return {"files": len(files), "bench_pages": pages, "bytes": sum(f.stat().st_size for f in files)}


# --- the three sides ---------------------------------------------------------------------------------
def available_stages() -> list[str]:
    """Our Spark stages that exist in this build, in order (a missing one ends the chain)."""
    stages = []
    for stage in STAGES:
        if not (REPO / "jobs" / f"{stage}.py").exists():
            break
        stages.append(stage)
    return stages


def stage_totals(out: Path, stage: str) -> dict:
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "stats" / f"{stage}.parquet").to_pylist()
    total = next(r for r in rows if r["rule"] == "_total")
    return {"docs_in": total["docs_in"], "kept": total["docs_in"] - total["docs_dropped"]}


def kept_urls(folder: Path) -> list[str]:
    import pyarrow.parquet as pq

    if not folder.exists():
        return []
    return pq.read_table(folder, columns=["url"]).column("url").to_pylist()


def side_spark(warcs: Path = WARCS, out: Path = E2E / "ours_spark") -> dict:
    shutil.rmtree(out, ignore_errors=True)
    stages, previous = {}, None
    for stage in available_stages():
        inp = str(warcs) if previous is None else str(out / "docs" / previous)
        cmd = [str(PY_OURS), "-m", "jobs", stage, "--input", inp, "--output", str(out), "--force"]
        for setting in SPARK_SETTINGS:
            cmd += ["--set", setting]
        measured = run_measured(cmd, cwd=REPO)
        stages[stage] = {"cpu_s": measured["cpu_s"], "wall_s": measured["wall_s"], **stage_totals(out, stage)}
        previous = stage
    return {
        "stages": stages,
        "kept_urls_filtered": kept_urls(out / "docs" / "filter"),
        "kept_urls_dedup": kept_urls(out / "docs" / "dedup"),
    }


def fixed_costs(runners: dict, sides: list[str]) -> dict:
    """Each side once on a WARC of 10 bench pages: process and engine start-up, model and list loads,
    planning and output writing -- paid once per job (Spark) or per task (datatrove), not per page.
    What a side costs beyond this on the full input is its per-document cost."""
    tiny = E2E / "warcs_tiny"
    shutil.rmtree(tiny, ignore_errors=True)
    tiny.mkdir(parents=True)
    write_bench_warc(tiny / "ten-pages.warc.gz", dup_every=10**6, limit=10)
    return {side: runners[side](tiny)["stages"] for side in sides}


def side_datatrove(warcs: Path = WARCS) -> dict:
    result_path = E2E / "peer.json"
    cmd = [str(PY_PEER), "-m", "bench.peers.datatrove_fineweb", "--warcs", str(warcs)]
    cmd += ["--work", str(E2E / "peer_work"), "--json", str(result_path)]
    measured = run_measured(cmd, env={"HF_HOME": str(OUT / "hf_home")}, cwd=REPO)
    result = json.loads(result_path.read_text())
    return {**result, "stages": datatrove_stages(result["executors"]), "tree_cpu_s": measured["cpu_s"]}


# datatrove step names (by substring) -> our stage that does that work
DATATROVE_STAGE_OF = {
    "Warc": "extract",
    "Url-filter": "extract",
    "Trafilatura": "extract",
    "Language ID": "extract",
    "Gopher": "filter",
    "C4": "filter",
    "FineWeb": "filter",
    "Jsonl": "filter",  # the main pipeline's writer: ours writes Parquet at the end of each stage too
}


def datatrove_stages(executors: list[dict]) -> dict:
    """Split the main executor's CPU time over our stages by datatrove's per-step time shares."""
    main, minhash = executors[0], executors[1:]
    steps = main["steps"]
    step_total = sum(s["time_s"] for s in steps) or 1.0
    stages = {
        "extract": {"cpu_s": 0.0, "docs_in": None, "kept": None},
        "filter": {"cpu_s": 0.0, "docs_in": None, "kept": None},
    }
    for step in steps:
        stage = next((v for k, v in DATATROVE_STAGE_OF.items() if k in step["name"]), "filter")
        stages[stage]["cpu_s"] += main["cpu_s"] * step["time_s"] / step_total
        counts = step["stats"]
        if "Warc" in step["name"]:
            stages["extract"]["docs_in"] = counts.get("documents")
        if "Language ID" in step["name"]:
            stages["extract"]["kept"] = counts.get("forwarded")
            stages["filter"]["docs_in"] = counts.get("forwarded")
        if "FineWeb" in step["name"]:
            stages["filter"]["kept"] = counts.get("forwarded")
    last = minhash[-1]["steps"]
    dedup_filter = next(
        (s for s in last if "Minhash" in s["name"] or "minhash" in s["name"].lower()), last[0]
    )
    stages["dedup"] = {
        "cpu_s": sum(e["cpu_s"] for e in minhash),
        "docs_in": stages["filter"]["kept"],
        "kept": dedup_filter["stats"].get("forwarded"),
    }
    return stages


def side_pure(warcs: Path = WARCS) -> dict:
    result_path = E2E / "pure.json"
    cmd = [str(PY_OURS), "-m", "bench.peers.ours_pure", "--warcs", str(warcs), "--json", str(result_path)]
    run_measured(cmd, cwd=REPO)
    return json.loads(result_path.read_text())


# --- summary -----------------------------------------------------------------------------------------
def overlap(ours: list[str], theirs: list[str], fold_mirrors: bool = False) -> dict:
    """Kept documents compared by normalised URL. After dedup, which copy of a duplicate pair survives
    is a tie-break (ours: newest fetch, then doc_id; datatrove: its cluster order), so there a mirror
    copy counts as its original (`fold_mirrors`): the question is whether the same content survived."""
    from pipeline.urls import normalize_url

    def key(url: str) -> str:
        url = normalize_url(url) or url
        return url.replace("://mirror.", "://", 1) if fold_mirrors else url

    a = {key(u) for u in ours if u}
    b = {key(u) for u in theirs if u}
    both = len(a & b)
    return {
        "ours": len(a),
        "datatrove": len(b),
        "both": both,
        "jaccard": both / max(1, len(a | b)),
        "ours_share_in_datatrove": both / max(1, len(a)),
        "datatrove_share_in_ours": both / max(1, len(b)),
    }


def summarize(runs: dict[str, list[dict]], n_docs: int) -> dict:
    """Medians over rounds of CPU per stage; docs/s per core = docs entering / CPU seconds."""
    summary = {}
    for side, results in runs.items():
        stages = {}
        for stage in results[-1]["stages"]:
            cpu = statistics.median(r["stages"][stage]["cpu_s"] for r in results)
            last = results[-1]["stages"][stage]
            stages[stage] = {
                **last,
                "cpu_s": cpu,
                "docs_per_cpu_s": (last["docs_in"] or 0) / cpu if cpu else None,
            }
        total = sum(s["cpu_s"] for s in stages.values())
        summary[side] = {"stages": stages, "total_cpu_s": total, "docs_per_cpu_s": n_docs / total}
    return summary


def print_ratios(summary: dict, fixed: dict, overlaps: dict) -> None:
    if "datatrove" in summary:
        base = summary["datatrove"]
        for side in summary:
            if side == "datatrove":
                continue
            ratios = [
                f"{stage} {base['stages'][stage]['cpu_s'] / summary[side]['stages'][stage]['cpu_s']:.2f}x"
                for stage in summary[side]["stages"]
                if stage in base["stages"]
            ]
            overall = base["total_cpu_s"] / summary[side]["total_cpu_s"]
            print(
                f"\n{side} vs datatrove (speed-up in CPU time): {', '.join(ratios)}; overall {overall:.2f}x"
            )
    for side, ratio in beyond_fixed_ratios(summary, fixed).items():
        print(f"\n{side} vs datatrove beyond fixed costs (CPU time): {ratio:.2f}x")
    for name, o in overlaps.items():
        print(
            f"\nkept-document overlap {name}: ours {o['ours']}, datatrove {o['datatrove']}, both {o['both']}, "
            f"Jaccard {o['jaccard']:.3f}, ours also kept by datatrove {o['ours_share_in_datatrove']:.1%}, "
            f"datatrove's also kept by ours {o['datatrove_share_in_ours']:.1%}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dup-every", type=int, default=2, help="every n-th bench page gets a mirror copy")
    parser.add_argument("--sides", default="spark,pure,datatrove")
    args = parser.parse_args()

    become_subreaper()
    started = time.monotonic()
    inputs = build_inputs(args.dup_every)
    print(
        f"input: {inputs['files']} WARC files, {inputs['bytes'] / 1e6:.1f} MB, {inputs['bench_pages']} bench pages"
    )
    runners = {"spark": side_spark, "pure": side_pure, "datatrove": side_datatrove}
    sides = [s for s in args.sides.split(",") if s]
    runs: dict[str, list[dict]] = {s: [] for s in sides}
    for round_no in range(args.rounds):
        order = sides[round_no % len(sides) :] + sides[: round_no % len(sides)]  # rotate who goes first
        for side in order:
            t0 = time.monotonic()
            result = runners[side]()
            runs[side].append(result)
            cpu = " ".join(f"{k} {v['cpu_s']:.1f}" for k, v in result["stages"].items())
            print(
                f"round {round_no + 1} {side:9s} {time.monotonic() - t0:6.1f} s wall; CPU s: {cpu}",
                flush=True,
            )

    n_docs = next((r[-1]["stages"]["extract"]["docs_in"] for s, r in runs.items() if s != "datatrove"), None)
    fixed = fixed_costs(runners, sides)
    summary = summarize(runs, n_docs)
    overlaps = {}
    if "datatrove" in runs:
        dt = runs["datatrove"][-1]
        for side in (s for s in ("spark", "pure") if s in runs):
            ours = runs[side][-1]
            overlaps[f"{side}, after filter"] = overlap(ours["kept_urls_filtered"], dt["kept_urls_filtered"])
            if ours["kept_urls_dedup"]:
                overlaps[f"{side}, after dedup (mirrors folded)"] = overlap(
                    ours["kept_urls_dedup"], dt["kept_urls_dedup"], fold_mirrors=True
                )
    print(
        f"\n{args.rounds} rounds, medians; {n_docs} WARC response records in; bench took {time.monotonic() - started:.0f} s"
    )
    print_ratios(summary, fixed, overlaps)
    figures = {
        "inputs": inputs,
        "n_docs": n_docs,
        "summary": summary,
        "overlap": overlaps,
        "fixed": fixed,
        "rounds": args.rounds,
    }
    (OUT / "e2e_vs_datatrove.json").write_text(json.dumps(figures, indent=1))  # bench.cost_model's input
    command = "python -m bench.e2e_vs_datatrove " + " ".join(sys.argv[1:])
    tables = [stage_table(summary, n_docs, args.rounds, command), marginal_table(summary, fixed, command)]
    print(render(tables))
    print(write_result("e2e_vs_datatrove", tables, figures))


if __name__ == "__main__":
    main()
