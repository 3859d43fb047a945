"""The extraction cascade: choose its threshold on developer pages, report held-out ones.

Pages (../shared/data, loaders and metric from bench/common/corpora.py):
  wcxb-dev   every 2nd WCXB page in id order (the set BENCHMARKS.md "Extraction" reports), 268 pages
  wcxb-held  the other WCXB pages, 272: never looked at while choosing the threshold
  aeb        the 92 Zyte articles: the cascade must not make them worse

Two parts, one process:
1. Sweep (wcxb-dev and aeb): per page, today's extraction and CPU, then each pass of the cascade on its
   own with its CPU; for each pair of shares (`baseline_below_frac`, `quality_first_below_frac`) the
   mean F1 and CPU the cascade's rule (pipeline/extract/html.py) would give. The configured pair is the
   one with the best wcxb-dev F1 at <= 1.2x today's CPU there and aeb F1 no lower than today's.
2. Side by side, every split: today's extraction (trafilatura on the page with the `extract` setting, as
   before the cascade) against `pipeline.extract.html.extract_with_cascade` with configs/default.yaml,
   alternating page by page so machine load hits both alike; CPU is `time.process_time` per page.

    .venv/bin/python -m bench.extraction_cascade [--json bench/results/extraction_cascade.json]
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bench.common.corpora import load_aeb, load_wcxb, prf
from bench.results_table import write_result
from pipeline.config import load_config
from pipeline.extract.html import (
    Cascade,
    extract_with_cascade,
    nonspace_chars,
    parse_html,
    run_trafilatura,
    trafilatura_kwargs,
    visible_chars,
)

COMMAND = "python -m bench.extraction_cascade"
BASELINE_FRACS = (0.0, 0.05, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3)
QUALITY_FIRST_FRACS = (0.0, 0.02, 0.05, 0.08, 0.1, 0.15)
MAX_CPU_RATIO = 1.2  # the cascade's budget: at most 1.2x the CPU per page of today's single pass


def splits() -> dict[str, tuple[str, list[dict]]]:
    """name -> (metric dataset, pages)."""
    wcxb = load_wcxb()
    return {"wcxb-dev": ("wcxb", wcxb[::2]), "wcxb-held": ("wcxb", wcxb[1::2]), "aeb": ("aeb", load_aeb())}


def measure_passes(dataset: str, pages: list[dict], today: dict, cascade: Cascade) -> list[dict]:
    """Per page: today's CPU and F1; each pass's output length, F1 and CPU."""
    import trafilatura

    measured = []
    for page in pages:
        started = time.process_time()
        run_trafilatura(page["html"], page["url"], today)
        today_cpu = time.process_time() - started
        started = time.process_time()
        tree = parse_html(page["html"])[0]
        visible = visible_chars(tree)
        first = run_trafilatura(tree, page["url"], cascade.first)
        first_cpu = time.process_time() - started
        started = time.process_time()
        baseline = trafilatura.baseline(tree)[1]
        baseline_cpu = time.process_time() - started
        started = time.process_time()
        quality = run_trafilatura(tree, page["url"], cascade.quality_first)
        quality_cpu = time.process_time() - started
        measured.append(
            {
                "visible": visible,
                "today_cpu": today_cpu,
                "passes": [  # (non-space chars, F1, CPU s) in cascade order
                    (nonspace_chars(text), prf(text, page["truth"], dataset)[2], cpu)
                    for text, cpu in ((first, first_cpu), (baseline, baseline_cpu), (quality, quality_cpu))
                ],
            }
        )
    return measured


def simulate(measured: list[dict], baseline_below: float, quality_below: float) -> tuple[float, float]:
    """(mean F1, CPU vs today) of the cascade's rule at these shares, from per-pass measurements."""
    f1 = cpu = 0.0
    for page in measured:
        (kept, best_f1, page_cpu), later = page["passes"][0], page["passes"][1:]
        visible = page["visible"]
        for below, (chars, pass_f1, pass_cpu) in zip((baseline_below, quality_below), later):
            if visible <= 0 or kept >= below * visible:
                continue
            page_cpu += pass_cpu
            if kept < chars < visible:
                kept, best_f1 = chars, pass_f1
        f1 += best_f1
        cpu += page_cpu
    return f1 / len(measured), cpu / sum(page["today_cpu"] for page in measured)


def sweep(dev: list[dict], articles: list[dict]) -> list[list]:
    """Rows (baseline_below_frac, quality_first_below_frac, dev F1, dev CPU x, aeb F1, aeb CPU x, eligible)."""
    today_aeb_f1 = simulate(articles, 0.0, 0.0)[0]
    rows = []
    for baseline_below in BASELINE_FRACS:
        for quality_below in QUALITY_FIRST_FRACS:
            dev_f1, dev_cpu = simulate(dev, baseline_below, quality_below)
            aeb_f1, aeb_cpu = simulate(articles, baseline_below, quality_below)
            eligible = dev_cpu <= MAX_CPU_RATIO and aeb_f1 >= today_aeb_f1 - 1e-9
            rows.append(
                [baseline_below, quality_below, dev_f1, dev_cpu, aeb_f1, aeb_cpu, "yes" if eligible else "no"]
            )
    return rows


def side_by_side(dataset: str, pages: list[dict], today: dict, cascade: Cascade) -> dict:
    """Today's extraction and the cascade, alternating per page."""
    f1_today = f1_cascade = cpu_today = cpu_cascade = 0.0
    rerun = 0
    for page in pages:
        started = time.process_time()
        text = run_trafilatura(page["html"], page["url"], today)
        cpu_today += time.process_time() - started
        started = time.process_time()
        result = extract_with_cascade(page["html"], page["url"], cascade)
        cpu_cascade += time.process_time() - started
        f1_today += prf(text, page["truth"], dataset)[2]
        f1_cascade += prf(result.text, page["truth"], dataset)[2]
        rerun += result.passes_run > 1
    n = len(pages)
    return {
        "pages": n,
        "f1_today": f1_today / n,
        "f1_cascade": f1_cascade / n,
        "rerun_pct": 100 * rerun / n,
        "ms_today": 1000 * cpu_today / n,
        "ms_cascade": 1000 * cpu_cascade / n,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--json", default=None, help="also write here (default: bench/results/extraction_cascade.json)"
    )
    args = parser.parse_args()
    logging.getLogger("trafilatura").setLevel(logging.CRITICAL)
    cfg = load_config()["extract"]
    cascade = Cascade.from_config(cfg)
    data = splits()

    today = trafilatura_kwargs(cfg)
    dev = measure_passes("wcxb", data["wcxb-dev"][1], today, cascade)
    articles = measure_passes("aeb", data["aeb"][1], today, cascade)
    sweep_rows = sweep(dev, articles)
    for row in sweep_rows:
        print(
            "sweep baseline<%.2f quality_first<%.2f: dev F1 %.4f CPU %.2fx  aeb F1 %.4f CPU %.2fx  %s"
            % tuple(row)
        )
    best = max((r for r in sweep_rows if r[-1] == "yes"), key=lambda r: r[2])
    print(
        f"best eligible on wcxb-dev: baseline_below_frac {best[0]}, quality_first_below_frac {best[1]}",
        flush=True,
    )

    compare_rows = []
    for name, (dataset, pages) in data.items():
        r = side_by_side(dataset, pages, today, cascade)
        compare_rows.append(
            [name, r["pages"], r["f1_today"], r["f1_cascade"], r["rerun_pct"], r["ms_today"], r["ms_cascade"],
             r["ms_cascade"] / r["ms_today"]]
        )  # fmt: skip
        print(name, r, flush=True)

    shares = f"baseline_below_frac {cascade.baseline_below_frac:g}, quality_first_below_frac " + (
        f"{cascade.quality_first_below_frac:g}"
    )
    tables = [
        {
            "title": f"Extraction cascade vs today's extraction, side by side in one run ({shares})",
            "command": COMMAND,
            "columns": [
                "pages",
                "n",
                "F1 today",
                "F1 cascade",
                "pages rerun %",
                "CPU ms/page today",
                "CPU ms/page cascade",
                "CPU ratio",
            ],  # fmt: skip
            "rows": compare_rows,
            "notes": "Mean token F1 per page against the human ground truth (WCXB: lower-cased \\w+ tokens; AEB: "
            "whitespace tokens). CPU = process_time per page, the two alternating page by page. wcxb-held was not "
            "used to choose the shares.",
        },
        {
            "title": "Extraction cascade: choosing the shares on wcxb-dev (with aeb as the article check)",
            "command": COMMAND,
            "columns": [
                "baseline_below_frac",
                "quality_first_below_frac",
                "wcxb-dev F1",
                "wcxb-dev CPU x",
                "aeb F1",
                "aeb CPU x",
                f"CPU <= {MAX_CPU_RATIO}x, aeb not worse",
            ],  # fmt: skip
            "rows": sweep_rows,
            "notes": "Each pass run once per page, the rule applied to the measurements; CPU relative to today's "
            f"extraction measured alongside. Best eligible: {best[0]:g} / {best[1]:g}. 0 / 0 = the first pass alone "
            "(on the cascade's own parse).",
        },
    ]
    path = write_result("extraction_cascade", tables)
    if args.json:
        Path(args.json).write_text(path.read_text())
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
