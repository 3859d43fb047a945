"""Throughput: WARC -> extracted, language-identified text, ours vs datatrove, side by side.

Input: one WARC built here from the extraction benchmark pages (AEB + a WCXB subset), gzip per record
as Common Crawl writes it, under bench/out/ (gitignored). Each side runs in its own process, one core:
  ours       pipeline.extract.stage.process_warc_file (our WARC reader, cheap checks, charset, trafilatura
             with configs/default.yaml settings under the per-document time budget, batched fastText lid.176)
             -- once as configured and once with the quality-first alternative (fast: false, favor_recall:
             false), to show the trade-off;
  datatrove  bench/peers/datatrove_extract.py in .venv-bench: LocalPipelineExecutor(tasks=1, workers=1),
             WarcReader -> Trafilatura(timeout=60) -> LanguageFilter(languages=["en"]), its lid.176 pointed
             at the same .ftz file we use, so both identify language with the same model.
Runs alternate (ours, ours quality-first, datatrove, ours, ...) and we report medians: the machine is shared,
so only ratios measured in the same run mean anything. Both sides also return their kept texts, scored
against the ground truth with the quality benchmark's metric, so speed is compared at known F1.

    .venv/bin/python -m bench.extraction_throughput [--rounds 3] [--wcxb-every 2]   # writes bench/results/extraction_throughput.json
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import statistics
import subprocess
import sys
from pathlib import Path

from bench.common.corpora import load_aeb, load_wcxb, prf
from bench.common.env import OUT, PY_OURS, PY_PEER, REPO
from bench.common.proc_cpu import measured
from bench.results_table import write_result

# The slower, higher-recall alternative documented in configs/default.yaml.
QUALITY_FIRST = {"extract.fast": False, "extract.favor_recall": False}


def record_id(dataset: str, page_id: str) -> str:
    digest = hashlib.sha1(f"{dataset}/{page_id}".encode()).hexdigest()
    return f"<urn:uuid:{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:32]}>"


def build_warc(path: Path, wcxb_every: int) -> list[dict]:
    """Write the benchmark pages as WARC response records; returns the pages with their record ids."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = [dict(p, dataset="aeb") for p in load_aeb()] + [
        dict(p, dataset="wcxb") for p in load_wcxb(wcxb_every)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for page in pages:
            page["record_id"] = record_id(page["dataset"], page["id"])
            body = page["html"].encode("utf-8")
            http = StatusAndHeaders(
                "200 OK", [("Content-Type", "text/html; charset=utf-8")], protocol="HTTP/1.1"
            )
            warc_headers = {
                "WARC-Record-ID": page["record_id"],
                "WARC-Date": "2024-03-01T00:00:00Z",
                "WARC-Identified-Payload-Type": "text/html",
            }
            record = writer.create_warc_record(
                page["url"],
                "response",
                payload=io.BytesIO(body),
                http_headers=http,
                warc_headers_dict=warc_headers,
            )
            writer.write_record(record)
    return pages


# --- our side, run in its own interpreter (datatrove's: bench/peers/datatrove_extract.py) ---------
def side_ours(warc: str, overrides: dict) -> dict:
    from pipeline.config import load_config
    from pipeline.extract.stage import process_warc_file

    cfg = load_config(overrides={"extract.url_prechecks": [], **overrides})
    docs, kept = 0, {}
    for batch in process_warc_file(warc, cfg, "bench"):
        docs += batch.num_rows
        for row in batch.select(["doc_id", "text", "drop_reason"]).to_pylist():
            if row["drop_reason"] is None:
                kept[row["doc_id"]] = row["text"]
    return {"docs": docs, "kept": kept}


def run_side(warc: str, overrides: dict) -> dict:
    """Subprocess entry of our side: time it, return counts, texts and timings as JSON."""
    import trafilatura  # noqa: F401  (every import outside the timed section, as on datatrove's side)

    import pipeline.extract.stage  # noqa: F401

    result, wall, cpu = measured(lambda: side_ours(warc, overrides))
    return {**result, "wall_s": wall, "cpu_s": cpu}


# --- driver ---------------------------------------------------------------------------------------
def score(kept_by_record: dict[str, str], pages: list[dict]) -> float:
    f1s = [prf(kept_by_record.get(p["record_id"], ""), p["truth"], p["dataset"])[2] for p in pages]
    return sum(f1s) / len(f1s)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--wcxb-every", type=int, default=2, help="WCXB pages in the WARC: every n-th")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # "ours": this process is our timed side
    parser.add_argument("--warc", help=argparse.SUPPRESS)
    parser.add_argument("--overrides", default="{}", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.side:
        json.dump(run_side(args.warc, json.loads(args.overrides)), sys.stdout)
        return

    from pipeline.io.warc import doc_id_for

    warc = OUT / "extraction_bench.warc.gz"
    pages = build_warc(warc, args.wcxb_every)
    ours = [str(PY_OURS), "-m", "bench.extraction_throughput", "--side", "ours", "--warc", str(warc)]
    sides = {  # each side's command, run in its own interpreter
        "ours (configs/default.yaml)": ours,
        "ours, quality-first": [*ours, "--overrides", json.dumps(QUALITY_FIRST)],
        "datatrove": [str(PY_PEER), "-m", "bench.peers.datatrove_extract", "--warc", str(warc)],
    }
    runs: dict[str, list[dict]] = {name: [] for name in sides}
    for round_no in range(args.rounds):
        for name, cmd in sides.items():
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
            if proc.returncode:
                sys.exit(f"{name} failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout)
            runs[name].append(result)
            print(
                f"round {round_no + 1} {name:26s} {result['wall_s']:.1f} s wall, {result['cpu_s']:.1f} s CPU",
                flush=True,
            )

    id_of = {doc_id_for(p["record_id"], p["url"], None): p["record_id"] for p in pages}
    print(
        f"\n{len(pages)} pages in {warc.name} ({warc.stat().st_size / 1e6:.1f} MB), {args.rounds} rounds, medians:"
    )
    summary = {}
    for name, results in runs.items():
        kept = results[-1]["kept"]
        kept_by_record = kept if name == "datatrove" else {id_of[k]: v for k, v in kept.items()}
        wall = statistics.median(r["wall_s"] for r in results)
        cpu = statistics.median(r["cpu_s"] for r in results)
        summary[name] = {
            "docs_per_s": len(pages) / wall,
            "docs_per_cpu_s": len(pages) / cpu,
            "kept": len(kept),
            "f1": score(kept_by_record, pages),
        }
    base = summary["datatrove"]
    for name, s in summary.items():
        print(
            f"{name:26s} {s['docs_per_s']:6.1f} docs/s ({s['docs_per_s'] / base['docs_per_s']:.2f}x)  "
            f"{s['docs_per_cpu_s']:6.1f} docs/CPU-s ({s['docs_per_cpu_s'] / base['docs_per_cpu_s']:.2f}x)  "
            f"kept {s['kept']}/{len(pages)}  F1 {s['f1']:.3f}"
        )
    command = "python -m bench.extraction_throughput " + " ".join(sys.argv[1:])
    print(write_result("extraction_throughput", [table(summary, len(pages), args.rounds, command)], summary))


def table(summary: dict, n_pages: int, rounds: int, command: str) -> dict:
    """Per-core rate and its ratio to datatrove's; wall rates (and their ratio) only as a loaded-machine note."""
    base = summary["datatrove"]
    rows = []
    for name, s in summary.items():
        wall = f"{s['docs_per_s']:.1f}"
        if name != "datatrove":
            wall += f" ({s['docs_per_s'] / base['docs_per_s']:.2f}x)"
        cpu_ratio = f"{s['docs_per_cpu_s'] / base['docs_per_cpu_s']:.2f}x"
        rows.append(
            [name, f"{s['docs_per_cpu_s']:.1f}", cpu_ratio, wall, f"{s['kept']}/{n_pages}", f"{s['f1']:.3f}"]
        )
    return {
        "title": f"Extraction throughput: WARC -> extracted, language-identified text ({n_pages} pages, medians of {rounds})",
        "command": command,
        "columns": [
            "system",
            "docs / CPU-second",
            "vs datatrove",
            "docs / s wall (loaded machine)",
            "kept",
            "F1",
        ],
        "rows": rows,
    }


if __name__ == "__main__":
    main()
