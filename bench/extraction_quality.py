"""Extraction quality: token-level F1 against human ground truth, ours vs trafilatura defaults vs peers.

Datasets (../shared/data, see their READMEs):
  aeb   Zyte/Scrapinghub article-extraction-benchmark, developer half: 92 news/blog articles.
        Metric as the benchmark's README states it: whitespace tokens, multiset (bag of words with counts).
  wcxb  WCXB developer subset: 546 pages of 7 page types (articles, forums, products, docs ...); the 6
        pages with an empty ground truth are skipped. Metric as its README states it: lower-cased `\\w+`
        tokens, multiset.
Per page: precision = overlap / predicted tokens, recall = overlap / true tokens, F1 their harmonic
mean (an empty prediction scores 0). We report the mean over pages.

Systems: trafilatura 2.3.1 (the project's .venv) with several option sets, our configured settings
(pipeline.extract.html with configs/default.yaml), and two peers run in .venv-bench in a subprocess
(bench/peers/extractors.py): resiliparse `extract_plain_text(main_content=True)` and datatrove's
`Trafilatura` extractor (its defaults: favour_precision, no comments, deduplicate, timeout 1 s;
trafilatura 1.11, which datatrove pins).

    .venv/bin/python -m bench.extraction_quality [--wcxb-every 1]   # writes bench/results/extraction_quality.json
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import time

from bench.common.corpora import load_aeb, load_wcxb, prf
from bench.common.env import PY_PEER, REPO
from bench.peers.extractors import SYSTEMS as PEERS
from bench.results_table import write_result

# trafilatura option sets tried (the .venv's trafilatura); "ours" is whatever configs/default.yaml says.
VARIANTS: dict[str, dict] = {
    "trafilatura defaults": {},
    "fast": {"fast": True},
    "no comments": {"include_comments": False},
    "fast, no comments": {"fast": True, "include_comments": False},
    "fast, no comments, no tables": {"fast": True, "include_comments": False, "include_tables": False},
    "fast, no comments, favor_recall": {"fast": True, "include_comments": False, "favor_recall": True},
    "favor_precision, no comments": {"favor_precision": True, "include_comments": False},
}


def summarize(outputs: dict[str, str], pages: list[dict], dataset: str) -> dict:
    scores = [prf(outputs.get(p["id"]) or "", p["truth"], dataset) for p in pages]
    n = len(scores)
    return {
        "pages": n,
        "precision": sum(s[0] for s in scores) / n,
        "recall": sum(s[1] for s in scores) / n,
        "f1": sum(s[2] for s in scores) / n,
        "empty": sum(1 for p in pages if not (outputs.get(p["id"]) or "").strip()),
    }


# --- systems ----------------------------------------------------------------------------------
def run_trafilatura(pages: list[dict], kwargs: dict) -> tuple[dict[str, str], float]:
    import trafilatura

    started = time.process_time()
    out = {p["id"]: trafilatura.extract(p["html"], url=p["url"], **kwargs) or "" for p in pages}
    return out, time.process_time() - started


def run_ours(pages: list[dict]) -> tuple[dict[str, str], float]:
    from pipeline.config import load_config
    from pipeline.extract.html import ExtractionTimeout, extract_main_text

    cfg = load_config()["extract"]
    started = time.process_time()
    out = {}
    for page in pages:
        try:
            out[page["id"]] = extract_main_text(page["html"], page["url"], cfg)
        except ExtractionTimeout:  # the stage drops these as extract.timeout
            out[page["id"]] = ""
    return out, time.process_time() - started


def run_peer(system: str, dataset: str, every: int) -> tuple[dict[str, str], float]:
    """A peer extractor in .venv-bench (bench/peers/extractors.py): its text per page and its CPU seconds."""
    cmd = [str(PY_PEER), "-m", "bench.peers.extractors", "--system", system, "--dataset", dataset]
    cmd += ["--wcxb-every", str(every)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=REPO)
    result = json.loads(proc.stdout)
    return result["outputs"], result["cpu_s"]


# --- main -------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--wcxb-every", type=int, default=1, help="use every n-th WCXB page (1 = all)")
    parser.add_argument("--datasets", default="aeb,wcxb")
    args = parser.parse_args()

    logging.getLogger("trafilatura").setLevel(logging.ERROR)  # one warning per discarded page otherwise
    results = []
    for dataset in args.datasets.split(","):
        pages = load_aeb() if dataset == "aeb" else load_wcxb(args.wcxb_every)
        systems = {"ours (configs/default.yaml)": lambda pages=pages: run_ours(pages)}
        for name, kwargs in VARIANTS.items():
            systems[f"trafilatura: {name}"] = lambda pages=pages, kwargs=kwargs: run_trafilatura(
                pages, kwargs
            )
        if PY_PEER.exists():
            for peer in PEERS:
                systems[peer] = lambda peer=peer, dataset=dataset: run_peer(peer, dataset, args.wcxb_every)
        for name, run in systems.items():
            outputs, cpu_s = run()
            row = {"dataset": dataset, "system": name, **summarize(outputs, pages, dataset)}
            row["ms_per_page"] = 1000 * cpu_s / len(pages)
            if dataset == "wcxb":
                for page_type in sorted({p["type"] for p in pages}):
                    subset = [p for p in pages if p["type"] == page_type]
                    row[f"f1_{page_type}"] = summarize(outputs, subset, dataset)["f1"]
            results.append(row)
            print(
                f"{dataset:5s} {name:42s} F1 {row['f1']:.3f}  P {row['precision']:.3f}  R {row['recall']:.3f}  "
                f"empty {row['empty']:3d}/{row['pages']}  {row['ms_per_page']:.1f} ms/page (CPU)",
                flush=True,
            )
    command = "python -m bench.extraction_quality " + " ".join(sys.argv[1:])
    print(write_result("extraction_quality", tables(results, command), {"rows": results}))


def tables(results: list[dict], command: str) -> list[dict]:
    """Mean F1 (P / R) and CPU per page per system and dataset; WCXB's F1 per page type."""
    by_system: dict[str, dict[str, dict]] = {}
    for row in results:
        by_system.setdefault(row["system"], {})[row["dataset"]] = row

    def f1(row: dict | None) -> str:
        return "–" if row is None else f"{row['f1']:.3f} ({row['precision']:.3f} / {row['recall']:.3f})"

    def ms(row: dict | None) -> str:
        return "–" if row is None else f"{row['ms_per_page']:.1f}"

    rows = [
        [name, f1(r.get("aeb")), f1(r.get("wcxb")), f"{ms(r.get('aeb'))} / {ms(r.get('wcxb'))}"]
        for name, r in by_system.items()
    ]
    out = [
        {
            "title": "Extraction quality: mean token F1 per page against the human ground truth",
            "command": command,
            "columns": ["system", "AEB F1 (P / R)", "WCXB F1 (P / R)", "CPU ms/page AEB / WCXB"],
            "rows": rows,
        }
    ]
    wcxb = [row for row in results if row["dataset"] == "wcxb"]
    types = sorted(key.removeprefix("f1_") for key in (wcxb[0] if wcxb else {}) if key.startswith("f1_"))
    out.append(
        {
            "title": "WCXB F1 by page type (same run)",
            "command": command,
            "columns": ["system", *types],
            "rows": [[row["system"], *(f"{row['f1_' + t]:.2f}" for t in types)] for row in wcxb],
        }
    )
    return out


if __name__ == "__main__":
    main()
