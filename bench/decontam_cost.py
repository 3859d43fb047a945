"""Decontam: detection on planted benchmark items, and its cost next to the filter stage, in one run.

Corpus: every real page text of ../shared/data (pipeline/fixtures/planted_evals.py: WCXB and Scrapinghub
ground truth, DCLM human-labelled and Dolma Common Crawl documents, 2016 Wikipedia articles) plus
benchmark items of ../shared/data/eval_benchmarks planted four ways (whole, reformatted, embedded in a
real page, near-miss). Eval sets: the default ones (GSM8K and HumanEval parts, WikiText-2 valid).

Detection: recall on planted items (of >= 13 words), near-misses removed, real pages removed.
Cost: `FilterStage.apply` (default config: NSFW, Gopher, C4, FineWeb, PII) and `DecontamStage.apply`
(drop mode) over the same record batches of `spark.arrow_batch_rows` rows, alternating for `--rounds`
rounds in one process; documents per CPU-second of the process (robust to a shared machine), best
round of each. The index build (once per run, on the driver) is reported apart.

    .venv/bin/python -m bench.decontam_cost [--rounds 3] [--per-kind 40]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pyarrow as pa

from bench.results_table import write_result
from pipeline.config import load_config
from pipeline.decontam.stage import DecontamStage, build_eval_index
from pipeline.filters.stage import FilterStage
from pipeline.fixtures.planted_evals import KINDS, planted_docs
from pipeline.schema import DOC_SCHEMA, conform

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
RECALL_MIN_WORDS = 13


def shared_paths(section: dict) -> dict:
    """Config paths under ../shared/data, pointed at DATA (the bench may run from a worktree)."""

    def fix(value):
        if isinstance(value, str) and value.startswith("../shared/data"):
            return str(DATA / value[len("../shared/data/") :])
        if isinstance(value, list):
            return [fix(v) for v in value]
        if isinstance(value, dict):
            return {k: fix(v) for k, v in value.items()}
        return value

    return fix(section)


def batches(rows: list[dict], size: int) -> list[pa.RecordBatch]:
    out = []
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        table = pa.RecordBatch.from_pylist([{k: r[k] for k in ("doc_id", "url", "text")} for r in chunk])
        out.append(conform(table.append_column("lang", pa.array(["en"] * len(chunk))), DOC_SCHEMA))
    return out


def cpu_seconds(stage, data: list[pa.RecordBatch]) -> tuple[float, list[pa.RecordBatch]]:
    start = time.process_time()
    out = [stage.apply(b) for b in data]
    return time.process_time() - start, out


def detection(rows: list[dict], reasons: list[str | None]) -> dict:
    result = {}
    for kind in ("real", *KINDS):
        picked = [
            (r, reason)
            for r, reason in zip(rows, reasons)
            if r["kind"] == kind and (kind in ("real", "near_miss") or r["item_words"] >= RECALL_MIN_WORDS)
        ]
        removed = sum(1 for _, reason in picked if reason is not None)
        result[kind] = {"docs": len(picked), "removed": removed}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--per-kind", type=int, default=40)
    args = parser.parse_args()

    cfg = shared_paths(load_config())
    rows = planted_docs(DATA, per_kind=args.per_kind, seed=14)
    data = batches(rows, cfg["spark"]["arrow_batch_rows"])
    start = time.process_time()
    index = build_eval_index(cfg["decontam"])
    build_s = time.process_time() - start
    decontam, filters = DecontamStage(cfg["decontam"], index), FilterStage(cfg["filter"])

    times: dict[str, list[float]] = {"filter": [], "decontam": []}
    outputs = {}
    for _ in range(args.rounds):
        for name, stage in (("filter", filters), ("decontam", decontam)):
            secs, outputs[name] = cpu_seconds(stage, data)
            times[name].append(secs)
    reasons = [r for b in outputs["decontam"] for r in b.column("drop_reason").to_pylist()]
    best = {name: min(v) for name, v in times.items()}
    n = len(rows)
    result = {
        "rounds": args.rounds,
        "per_kind": args.per_kind,
        "docs": n,
        "eval_sets": [
            {"name": s.name, "n": s.n, "items": s.items, "matchable": s.matchable} for s in index.sets
        ],
        "index_ngrams": int(sum(len(t[0]) for t in index.tables.values())),
        "index_build_cpu_s": round(build_s, 2),
        "filter_docs_per_cpu_s": round(n / best["filter"], 1),
        "decontam_docs_per_cpu_s": round(n / best["decontam"], 1),
        "decontam_time_vs_filter": round(best["decontam"] / best["filter"], 4),
        "detection": detection(rows, reasons),
        "load_average": os.getloadavg()[0],
    }
    print(json.dumps(result, indent=2))
    print(write_result("decontam", tables(result), result))


PLANTED = {  # detection kind -> how BENCHMARKS.md names it
    "whole": "whole item",
    "reformat": "reformatted",
    "embedded": "embedded in a real page",
    "near_miss": "near-miss (no run of > 5 item words)",
    "real": "real pages, unmodified",
}


def tables(result: dict) -> list[dict]:
    """Detection per planted kind, and the cost next to the filter stage."""
    command = f"python -m bench.decontam_cost --rounds {result['rounds']} --per-kind {result['per_kind']}"
    detection = result["detection"]
    rows = [[label, detection[kind]["docs"], detection[kind]["removed"]] for kind, label in PLANTED.items()]
    rows[-1][2] = f"**{rows[-1][2]}**"  # false removals: the figure that must stay 0
    return [
        {
            "title": f"Planted benchmark items found and removed ({result['docs']:,} documents)",
            "command": command,
            "columns": ["planted", "documents", "removed"],
            "rows": rows,
        },
        {
            "title": "Cost next to the filter stage, best of the rounds, one core",
            "command": command,
            "columns": ["stage", "docs per CPU-s (one core)", "time per document vs filter"],
            "rows": [
                [
                    "filter (default config: NSFW, Gopher, C4, FineWeb, PII)",
                    f"{result['filter_docs_per_cpu_s']:,.0f}",
                    "1",
                ],
                [
                    "decontam (drop mode)",
                    f"{result['decontam_docs_per_cpu_s']:,.0f}",
                    f"**{result['decontam_time_vs_filter']:.3f}**",
                ],
            ],
        },
    ]


if __name__ == "__main__":
    main()
