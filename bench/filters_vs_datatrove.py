"""Heuristic filters vs datatrove's (GopherRepetition, GopherQuality, C4Quality, FineWebQuality).

    .venv/bin/python -m bench.filters_vs_datatrove [--rounds 3]

1. Corpus: the Common Crawl texts of ../shared/data/cc_text_samples plus the pages of the four
   extraction benchmarks (wcxb, scrapinghub, readability, trafilatura_eval) extracted with
   trafilatura (favor_precision, as FineWeb did); cached in bench/out/filters_corpus.jsonl.gz.
2. Agreement: each side, in its own interpreter (ours: .venv, datatrove 0.10.1: .venv-bench, its
   worker in bench/peers/datatrove_filters.py),
   judges every document with each rule alone and with each whole family, on the original text;
   we report the % of documents with the same keep/drop decision.
3. Throughput: the four families chained as in FineWeb (ours: `FilterStage` without NSFW/PII, all
   signals for every row; datatrove: the four `.filter()` calls, stopping at the first rejection),
   one process per side, single core, alternating sides for `--rounds` rounds; docs per CPU-second.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.common.env import DATA, ONE_CORE, OUT, PY_OURS, PY_PEER, REPO
from bench.results_table import write_result

CORPUS = OUT / "filters_corpus.jsonl.gz"

# label -> (our rules that must all pass, datatrove filter, its kwargs with only that rule on)
RULES = {
    "gopher words 50-100k": (
        ["gopher_min_words", "gopher_max_words"],
        "GQ",
        {"min_doc_words": 50, "max_doc_words": 100000},
    ),
    "gopher mean word length 3-10": (
        ["gopher_min_mean_word_length", "gopher_max_mean_word_length"],
        "GQ",
        {"min_avg_word_length": 3, "max_avg_word_length": 10},
    ),
    "gopher # and ellipsis ratio 0.1": (
        ["gopher_hash_word_ratio", "gopher_ellipsis_word_ratio"],
        "GQ",
        {"max_symbol_word_ratio": 0.1},
    ),
    "gopher bullet lines 0.9": (["gopher_bullet_lines"], "GQ", {"max_bullet_lines_ratio": 0.9}),
    "gopher ellipsis lines 0.3": (["gopher_ellipsis_lines"], "GQ", {"max_ellipsis_lines_ratio": 0.3}),
    "gopher alpha words 0.8": (["gopher_alpha_words"], "GQ", {"max_non_alpha_words_ratio": 0.8}),
    "gopher stop words 2": (["gopher_stop_words"], "GQ", {"min_stop_words": 2}),
    "gopher dup line frac": (["gopher_dup_line_frac"], "GR", {"dup_line_frac": 0.3}),
    "gopher dup para frac": (["gopher_dup_para_frac"], "GR", {"dup_para_frac": 0.3}),
    "gopher dup line char frac": (["gopher_dup_line_char_frac"], "GR", {"dup_line_char_frac": 0.2}),
    "gopher dup para char frac": (["gopher_dup_para_char_frac"], "GR", {"dup_para_char_frac": 0.2}),
    **{
        f"gopher top {n}-gram": ([f"gopher_top_{n}gram"], "GR", {"top_n_grams": ((n, f),)})
        for n, f in ((2, 0.2), (3, 0.18), (4, 0.16))
    },
    **{
        f"gopher dup {n}-gram": ([f"gopher_dup_{n}gram"], "GR", {"dup_n_grams": ((n, f),)})
        for n, f in ((5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10))
    },
    "c4 lorem ipsum": (["c4_lorem_ipsum"], "C4", {"filter_lorem_ipsum": True}),
    "c4 curly bracket": (["c4_curly_bracket"], "C4", {"filter_curly_bracket": True}),
    "c4 min sentences (5 words/line, 3 sent.)": (
        ["c4_min_sentences"],
        "C4",
        {"min_num_sentences": 3, "min_words_per_line": 5},
    ),
    "fineweb line punct 0.12": (["fineweb_line_punct_frac"], "FW", {"line_punct_thr": 0.12}),
    "fineweb short lines 0.67": (["fineweb_short_line_frac"], "FW", {"short_line_thr": 0.67}),
    "fineweb dup line chars 0.01": (["fineweb_dup_line_char_frac"], "FW", {"char_duplicates_ratio": 0.01}),
    "fineweb newline/word 0.3": (["fineweb_newline_word_ratio"], "FW", {"new_line_ratio": 0.3}),
}
FAMILIES = {  # label -> (our family section, our overrides, datatrove filter, its kwargs)
    "Gopher repetition": ("gopher_repetition", {}, "GR", {}),
    "Gopher quality": ("gopher_quality", {}, "GQ", {}),
    "C4 (reference params: 5 words/line, 3 sentences)": (
        "c4",
        {},
        "C4",
        {"min_words_per_line": 5, "min_num_sentences": 3},
    ),
    "C4 (datatrove defaults: 3 words/line, 5 sentences)": (
        "c4",
        {"min_words_per_line": 3, "min_num_sentences": 5},
        "C4",
        {},
    ),
    "FineWeb": ("fineweb", {}, "FW", {}),
}


# --- corpus ---------------------------------------------------------------------------------------
def build_corpus() -> list[str]:
    import trafilatura

    texts = []
    for path in sorted((DATA / "cc_text_samples").glob("dolma_cc_*.jsonl.gz")):
        if "spans" not in path.name:
            with gzip.open(path, "rt") as f:
                texts += [json.loads(line)["text"] for line in f]
    for name in ("high_quality_wiki_reference.txt", "low_quality_cc.txt", "moby_extracted.txt"):
        texts.append((DATA / "cc_text_samples" / "cs336_fixtures" / name).read_text(errors="replace"))
    pages = sorted((DATA / "extraction_wcxb" / "html").glob("*.html.gz"))
    pages += sorted((DATA / "extraction_scrapinghub_aeb" / "html").glob("*.html.gz"))
    pages += sorted((DATA / "extraction_readability_testpages" / "pages").glob("*/source.html.gz"))
    pages += sorted((DATA / "extraction_trafilatura_eval" / "html").glob("*.html.gz"))
    for path in pages:
        html = gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace")
        text = trafilatura.extract(html, favor_precision=True, include_comments=False)
        if text:
            texts.append(text)
    return [t for t in texts if t.strip()]


def load_corpus() -> list[str]:
    if not CORPUS.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        texts = build_corpus()
        with gzip.open(CORPUS, "wt") as f:
            for t in texts:
                f.write(json.dumps({"text": t}) + "\n")
    with gzip.open(CORPUS, "rt") as f:
        return [json.loads(line)["text"] for line in f]


# --- our worker (datatrove's: bench/peers/datatrove_filters.py) ------------------------------------
def ours_decisions(texts):
    import numpy as np
    import pyarrow as pa

    from pipeline.config import load_config
    from pipeline.filters.stage import FAMILIES as OUR_FAMILIES
    from pipeline.filters.text_stats import DocStats

    cfg = load_config()["filter"]
    classes = {cls.section: cls for cls in OUR_FAMILIES}
    stats = [DocStats(t) for t in texts]

    def rule_masks(section, overrides):
        fam = classes[section]({**cfg[section], **overrides})
        rows = [fam.measure(s) for s in stats]
        cols = {}
        for field in fam.signals:  # as the family's `apply` judges them: numbers as stored, flags, no lists
            vals = [r[field.name] for r in rows]
            if pa.types.is_boolean(field.type):
                cols[field.name] = np.array([v is True for v in vals])
            elif pa.types.is_floating(field.type) or pa.types.is_integer(field.type):
                cols[field.name] = pa.array(vals, field.type).to_numpy(zero_copy_only=False)
        return {rule: np.asarray(m, dtype=bool) for rule, m in fam.failures(cols)}

    masks = {}
    for section in ("gopher_repetition", "gopher_quality", "fineweb"):
        masks.update(rule_masks(section, {}))
    masks.update(rule_masks("c4", {}))
    out = {
        label: np.any([masks[r] for r in rules], axis=0).tolist() for label, (rules, _, _) in RULES.items()
    }
    for label, (section, overrides, _, _) in FAMILIES.items():
        out[label] = np.any(list(rule_masks(section, overrides).values()), axis=0).tolist()
    return out


def ours_speed(texts):
    import pyarrow as pa

    from pipeline.config import load_config
    from pipeline.filters.stage import FilterStage
    from pipeline.schema import empty_docs, set_column

    cfg = load_config()["filter"]
    stage = FilterStage({**cfg, "nsfw": {"enabled": False}, "pii": {"enabled": False}})
    batches = [
        set_column(empty_docs(len(texts[i : i + 256])), "text", texts[i : i + 256], pa.string())
        for i in range(0, len(texts), 256)
    ]
    stage.apply(batches[0].slice(0, 4))  # warm-up: imports, Punkt model load
    t0, c0 = time.perf_counter(), time.process_time()
    kept = sum(stage.apply(b).column("drop_reason").null_count for b in batches)
    return time.perf_counter() - t0, time.process_time() - c0, kept


def worker(task: str) -> None:
    fn = {"decisions": ours_decisions, "speed": ours_speed}[task]
    print(json.dumps(fn(load_corpus())))


# --- driver ---------------------------------------------------------------------------------------
# each side's worker, run in its own interpreter: ours here, datatrove's in bench/peers/datatrove_filters.py
WORKERS = {
    "ours": [str(PY_OURS), "-m", "bench.filters_vs_datatrove", "worker"],
    "datatrove": [str(PY_PEER), "-m", "bench.peers.datatrove_filters"],
}


def call(side: str, task: str):
    env = {"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1", "HOME": str(Path.home())}
    res = subprocess.run(
        [*ONE_CORE, *WORKERS[side], task], capture_output=True, text=True, env=env, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    texts = load_corpus()
    print(f"corpus: {len(texts)} documents, {sum(map(len, texts)) / 1e6:.1f} M chars\n")

    ours, dt = call("ours", "decisions"), call("datatrove", "decisions")
    print("| rule / family | same decision | ours drop | datatrove drop |\n|---|---|---|---|")
    agreement = {}
    for label in list(RULES) + list(FAMILIES):
        a, b = ours[label], dt[label]
        same = sum(x == y for x, y in zip(a, b)) / len(a)
        print(f"| {label} | {same:.1%} | {sum(a)} | {sum(b)} |")
        agreement[label] = {"same": same, "ours_drop": sum(a), "datatrove_drop": sum(b)}

    rows = {"ours": [], "datatrove": []}
    for _ in range(args.rounds):
        for side in ("ours", "datatrove"):
            rows[side].append(call(side, "speed"))
    print("\n| side | docs/CPU-s (median of rounds) | docs/wall-s | kept |\n|---|---|---|---|")
    rate, speed = {}, {}
    for side, runs in rows.items():
        rate[side] = statistics.median(len(texts) / cpu for _, cpu, _ in runs)
        wall = statistics.median(len(texts) / w for w, _, _ in runs)
        print(f"| {side} | {rate[side]:.0f} | {wall:.0f} | {runs[0][2]} |")
        speed[side] = {"docs_per_cpu_s": rate[side], "docs_per_wall_s": wall, "kept": runs[0][2]}
    print(
        f"\nspeed-up (CPU time): {rate['ours'] / rate['datatrove']:.2f}x over {args.rounds} alternating rounds"
    )
    figures = {"docs": len(texts), "rounds": args.rounds, "agreement": agreement, "speed": speed}
    print(write_result("filters_vs_datatrove", tables(figures), figures))


LABELS = {  # rule or family -> its row in BENCHMARKS.md
    "gopher words 50-100k": "gopher words 50–100k",
    "gopher mean word length 3-10": "gopher mean word length 3–10",
    "gopher # and ellipsis ratio 0.1": "gopher `#` and ellipsis ratio 0.1",
    "gopher bullet lines 0.9": "gopher bullet lines 0.9",
    "gopher ellipsis lines 0.3": "gopher ellipsis lines 0.3",
    "gopher alpha words 0.8": "gopher alpha words 0.8",
    "gopher stop words 2": "gopher stop words 2",
    "gopher dup line frac": "gopher dup line frac 0.30",
    "gopher dup para frac": "gopher dup para frac 0.30",
    "gopher dup line char frac": "gopher dup line char frac 0.20",
    "gopher dup para char frac": "gopher dup para char frac 0.20",
    "gopher top 2-gram": "gopher top 2-gram 0.20",
    "gopher top 3-gram": "gopher top 3-gram 0.18",
    "gopher top 4-gram": "gopher top 4-gram 0.16",
    "gopher dup 5-gram": "gopher dup 5-gram 0.15",
    "gopher dup 6-gram": "gopher dup 6-gram 0.14",
    "gopher dup 7-gram": "gopher dup 7-gram 0.13",
    "gopher dup 8-gram": "gopher dup 8-gram 0.12",
    "gopher dup 9-gram": "gopher dup 9-gram 0.11",
    "gopher dup 10-gram": "gopher dup 10-gram 0.10",
    "c4 lorem ipsum": "c4 lorem ipsum",
    "c4 curly bracket": "c4 curly bracket",
    "c4 min sentences (5 words/line, 3 sent.)": "c4 min sentences (both with the reference's 5 words/line, 3 sentences)",
    "fineweb line punct 0.12": "fineweb line punct 0.12",
    "fineweb short lines 0.67": "fineweb short lines 0.67",
    "fineweb dup line chars 0.01": "fineweb dup line chars 0.01",
    "fineweb newline/word 0.3": "fineweb newline/word 0.3",
    "Gopher repetition": "Gopher repetition",
    "Gopher quality": "Gopher quality",
    "C4 (reference params: 5 words/line, 3 sentences)": "C4, reference params (5 words/line, 3 sentences) on both sides",
    "C4 (datatrove defaults: 3 words/line, 5 sentences)": "C4, datatrove's defaults (3 words/line, 5 sentences) on both sides",
    "FineWeb": "FineWeb",
}


def tables(figures: dict) -> list[dict]:
    """Throughput (table 1) and agreement per rule and family (table 2)."""
    command = f"taskset -c 0 python -m bench.filters_vs_datatrove --rounds {figures['rounds']}"
    sides = {"ours": "ours", "datatrove": "datatrove 0.10.1"}
    speed = figures["speed"]
    agreement = []
    for key, label in LABELS.items():
        a = figures["agreement"][key]
        label = f"**family: {label}**" if key in FAMILIES else label
        agreement.append([label, f"{a['same']:.1%}", a["ours_drop"], a["datatrove_drop"]])
    return [
        {
            "title": "Heuristic filters, whole chain, one core (medians of the rounds)",
            "command": command,
            "columns": ["side", "docs per CPU-s", "docs per wall-s", "kept"],
            "rows": [
                [
                    name,
                    f"{speed[side]['docs_per_cpu_s']:.0f}",
                    f"{speed[side]['docs_per_wall_s']:.0f}",
                    speed[side]["kept"],
                ]
                for side, name in sides.items()
            ],
        },
        {
            "title": "Same keep/drop decision as datatrove, each rule alone and each family",
            "command": command,
            "columns": ["rule", "same decision", "ours drop", "datatrove drop"],
            "rows": agreement,
        },
    ]


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        worker(sys.argv[2])
    else:
        main()
