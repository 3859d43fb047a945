"""Quality-stage figures for BENCHMARKS.md: agreement with human labels, drop shares, throughput.

    .venv/bin/python -m bench.quality_auc [--docs 2000] [--rounds 2] [--runs demo=OUT ...]

1. ROC AUC against DCLM's human high/low labels (../shared/data/quality_human_labels_dclm, developer
   half, never trained on) for the fastText `quality_score`, the reference-LM perplexity (lower =
   better), their combination (weight tuned on the TUNE part) and two trivial baselines (document
   length; share of lines ending in terminal punctuation). Reported on the REPORT part with a
   bootstrap 95% interval and the paired difference against length (classifiers/quality_eval.py).
2. Throughput, docs/s on ONE core, interleaved rounds in one process: the Spark quality stage
   (`local[1]`) with the classifier only and with classifier + perplexity, the two models in a plain
   Python loop, and the project's GPT (trainer/model.py, `tiny` preset, forward pass only) as the
   alternative reference LM. Documents: the human-label texts repeated to `--docs`.
3. `--runs NAME=OUT`: the share of documents the quality stage dropped in finished runs.
Writes bench/results/quality.json (parts not measured this time keep their recorded values).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common.env import REPO, RESULTS
from bench.results_table import write_result

DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
LABELS = DATA / "quality_human_labels_dclm" / "human_quality_labels.jsonl"
RESULT = RESULTS / "quality.json"


def agreement(model_path: Path, lm_path: Path) -> dict:
    from classifiers import quality_eval as qe
    from classifiers.ngram_lm import NgramLM
    from classifiers.quality import QualityModel, roc_auc

    rows = [json.loads(line) for line in LABELS.open()]
    texts = [r["text"] for r in rows]
    y = np.array([r["label"] for r in rows], dtype=bool)
    part = np.array([qe.label_part(t) for t in texts])
    tune, report = part == qe.TUNE, part == qe.REPORT
    quality = QualityModel(model_path).score(texts).astype(np.float64)
    neg_log_ppl = -np.log(NgramLM.load(lm_path).perplexity(texts))
    # The combination's weight is the one thing tuned on the labels: on TUNE only.
    weight = qe.tune_weight(y[tune], quality[tune], neg_log_ppl[tune])
    signals = {
        "quality_score": quality,
        "perplexity (lower = better)": neg_log_ppl,
        f"combination {weight:.2f} z(quality) + {1 - weight:.2f} z(-log ppl)": weight * qe.zscore(quality)
        + (1 - weight) * qe.zscore(neg_log_ppl),
        "baseline: length (chars)": qe.length_score(texts),
        "baseline: line punctuation share": qe.line_punct_score(texts),
    }
    length = signals["baseline: length (chars)"]
    out = {
        "n": len(rows),
        "n_tune": int(tune.sum()),
        "n_report": int(report.sum()),
        "split": "bit 1 of sha1(text): 0 = TUNE (combination weight), 1 = REPORT (figures below)",
        "combination_weight": weight,
        "signals": {},
    }
    for name, s in signals.items():
        lo, hi = qe.bootstrap_auc(y[report], s[report])
        diff, dlo, dhi = qe.paired_auc_difference(y[report], s[report], length[report])
        out["signals"][name] = {
            "auc_report": roc_auc(y[report], s[report]),
            "ci95_report": [lo, hi],
            "auc_tune": roc_auc(y[tune], s[tune]),
            "auc_all": roc_auc(y, s),
            "minus_length_report": diff,
            "minus_length_ci95": [dlo, dhi],
            "beats_length": dlo > 0,
        }
    return out


def gpt_forward_rate(texts: list[str], rounds: int) -> float:
    """Docs/s of the project's GPT (`tiny` preset, random weights: the cost does not depend on them)
    scoring token ids as a reference LM would, ~1.3 tokens per word, windows of seq_len."""
    import torch

    from trainer.model import GPT, preset_config

    torch.set_num_threads(1)
    cfg = preset_config("tiny", vocab_size=8000, seq_len=256)
    model = GPT(cfg).eval()
    lengths = [max(1, int(1.3 * len(t.split()))) for t in texts]
    best = float("inf")
    with torch.no_grad():
        for _ in range(rounds):
            start = time.perf_counter()
            for n in lengths:
                ids = torch.randint(0, cfg.vocab_size, (1, n))
                for i in range(0, n, cfg.seq_len):
                    model(ids[:, i : i + cfg.seq_len])
            best = min(best, time.perf_counter() - start)
    return len(texts) / best


def throughput(model_path: Path, lm_path: Path, n_docs: int, rounds: int) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from classifiers.ngram_lm import NgramLM
    from classifiers.quality import QualityModel
    from jobs.rowwise import run_rowwise
    from jobs.session import get_spark
    from pipeline.quality.stage import QualityScorer

    base = [json.loads(line)["text"] for line in LABELS.open()]
    texts = [base[i % len(base)] for i in range(n_docs)]
    tmp = Path(tempfile.mkdtemp(prefix="quality_bench_"))
    pq.write_table(pa.table({"doc_id": [str(i) for i in range(n_docs)], "text": texts}), tmp / "d.parquet")
    spark = get_spark({"spark": {"master": "local[1]", "arrow_batch_rows": 256}}, master="local[1]")
    configs = {
        "spark_stage_fasttext_only": {"lm_path": None},
        "spark_stage_fasttext_plus_perplexity": {"lm_path": str(lm_path)},
    }

    def spark_run(extra: dict) -> float:
        cfg = {"model_path": str(model_path), "score_only": True, "max_words": 1000, **extra}
        start = time.perf_counter()
        run_rowwise(spark.read.parquet(str(tmp / "d.parquet")), QualityScorer, cfg).write.format("noop").mode(
            "overwrite"
        ).save()
        return time.perf_counter() - start

    for extra in configs.values():
        spark_run(extra)  # warm-up: Python workers, model loads
    model, lm = QualityModel(model_path), NgramLM.load(lm_path)
    times: dict[str, list[float]] = {
        k: [] for k in [*configs, "fasttext_python_loop", "ngram_lm_python_loop"]
    }
    cpu: dict[str, list[float]] = {"fasttext_python_loop": [], "ngram_lm_python_loop": []}
    for _ in range(rounds):  # interleaved, so contention on the shared machine hits every side
        for name, extra in configs.items():
            times[name].append(spark_run(extra))
        for name, fn in (("fasttext_python_loop", model.score), ("ngram_lm_python_loop", lm.perplexity)):
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(texts)
            times[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    spark.stop()
    rates = {k: n_docs / min(v) for k, v in times.items()}
    # CPU seconds of this process: the per-core rate a loaded shared machine cannot show in wall time.
    rates.update({f"{k}_per_cpu_second": n_docs / min(v) for k, v in cpu.items()})
    both, ft = rates["spark_stage_fasttext_plus_perplexity"], rates["spark_stage_fasttext_only"]
    # The perplexity column's own cost in the stage: the time it adds per document.
    rates["spark_stage_perplexity_alone"] = 1.0 / (1.0 / both - 1.0 / ft) if both < ft else float("inf")
    gpt_docs = texts[: max(50, n_docs // 20)]
    rates["gpt_tiny_forward_only"] = gpt_forward_rate(gpt_docs, rounds)
    return {"docs": n_docs, "docs_per_s_per_core": rates}


def drop_shares(runs: list[str]) -> dict:
    import pandas as pd

    from pipeline import layout
    from pipeline.inspect.runstats import all_docs

    out = {}
    for item in runs:
        name, _, path = item.partition("=")
        stats = pd.read_parquet(layout.stats_path(path, "quality"))
        total = stats[(stats["rule"] == "_total") & stats["domain"].isna()].iloc[0]
        docs = all_docs(path, "quality", columns=["quality_score", "ppl_bucket"])
        out[name] = {
            "docs_in": int(total["docs_in"]),
            "docs_dropped": int(total["docs_dropped"]),
            "drop_share": float(total["docs_dropped"] / max(1, total["docs_in"])),
            # what the former default (`selection: threshold`, 0.5) would drop with this model
            "share_below_0_5": float((docs["quality_score"] < 0.5).mean()) if len(docs) else 0.0,
            "ppl_buckets": docs["ppl_bucket"].value_counts().to_dict(),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--lm", default=None)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", nargs="*", default=[], metavar="NAME=OUT")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    from classifiers.ngram_lm import resolve_lm_path
    from classifiers.quality import resolve_model_path

    model_path, lm_path = resolve_model_path(args.model), resolve_lm_path(args.lm)
    result = {
        "model": str(model_path.relative_to(REPO) if model_path.is_relative_to(REPO) else model_path),
        "reference_lm": str(lm_path.relative_to(REPO) if lm_path.is_relative_to(REPO) else lm_path),
        "command": "python -m bench.quality_auc " + " ".join(sys.argv[1:]),
        "agreement": agreement(model_path, lm_path),
    }
    print(json.dumps(result["agreement"], indent=2), flush=True)
    if args.runs:
        result["drop_shares"] = drop_shares(args.runs)
    if not args.skip_throughput:
        result["throughput"] = throughput(model_path, lm_path, args.docs, args.rounds)
    # Parts not measured in this invocation (--skip-throughput, no --runs) keep their recorded values.
    previous = json.loads(RESULT.read_text()).get("figures", {}) if RESULT.exists() else {}
    figures = {**previous, **result}
    print(json.dumps({k: v for k, v in result.items() if k != "agreement"}, indent=2))
    print(write_result("quality", tables(figures), figures))


# --- the BENCHMARKS.md tables ---------------------------------------------------------------------
SIGNALS = {  # agreement signal -> how BENCHMARKS.md names it, in its order
    "quality_score": "`quality_score` (shipped fastText)",
    "perplexity (lower = better)": "`perplexity`, lower = better (shipped bigram LM)",
    "combination": "combination {w} z(quality) + {rest} z(\u2212log ppl)",
    "baseline: length (chars)": "baseline: length (characters)",
    "baseline: line punctuation share": 'baseline: share of lines ending in `.`, `!`, `?`, `"`',
}
RUNS = {
    "demo": "demo crawl (`make crawl-to-shards`, generated, seed 1234)",
    "warc_samples": "`../shared/data/warc_samples` (all 12 files, `--input` the folder)",
}
THROUGHPUT = [  # (row, key, the key it is compared with)
    ("Spark stage `local[1]`, classifier only", "spark_stage_fasttext_only", "spark_stage_fasttext_only"),
    (
        "Spark stage `local[1]`, classifier + perplexity",
        "spark_stage_fasttext_plus_perplexity",
        "spark_stage_fasttext_only",
    ),
    (
        "\u2014 perplexity's own share of that stage (added time per doc)",
        "spark_stage_perplexity_alone",
        "spark_stage_fasttext_only",
    ),
    ("plain Python loop, `QualityModel.score`", "fasttext_python_loop", "fasttext_python_loop"),
    ("plain Python loop, `NgramLM.perplexity`", "ngram_lm_python_loop", "fasttext_python_loop"),
    (
        "the project's GPT, `tiny` preset (2 layers, d 96), forward pass only, 1 torch thread",
        "gpt_tiny_forward_only",
        "fasttext_python_loop",
    ),
]


def _signed(x: float) -> str:
    return f"{x:+.3f}".replace("-", "\u2212")


def tables(figures: dict) -> list[dict]:
    """Agreement with the human labels, drop shares of the runs, throughput (each from the last run of its part)."""
    command = figures["command"]
    agreement = figures["agreement"]
    w = agreement["combination_weight"]
    rows = []
    for key, label in SIGNALS.items():
        name = next(n for n in agreement["signals"] if n.startswith(key))
        s = agreement["signals"][name]
        low, high = s["ci95_report"]
        auc = f"{s['auc_report']:.3f} ({low:.3f}\u2013{high:.3f})"
        if key == "baseline: length (chars)":
            versus, beats = "\u2014", "\u2014"
        else:
            lo, hi = s["minus_length_ci95"]
            versus = f"{_signed(s['minus_length_report'])} ({_signed(lo)}, {_signed(hi)})"
            beats = "yes" if s["beats_length"] else "no"
        label = label.format(w=f"{w:.2f}", rest=f"{1 - w:.2f}")
        rows.append([label, auc, versus, beats, f"{s['auc_tune']:.3f}"])
    out = [
        {
            "title": "Agreement with DCLM's human labels (REPORT part; nothing was tuned on it)",
            "command": command,
            "columns": [
                f"signal (REPORT part, {agreement['n_report']} docs)",
                "ROC AUC (95% CI)",
                "\u2212 length (95% CI)",
                "beats length?",
                "TUNE AUC",
            ],
            "rows": rows,
        }
    ]
    shares = figures.get("drop_shares", {})
    out.append(
        {
            "title": "Drop share of the quality stage with the defaults, and at the former threshold",
            "command": command,
            "columns": [
                "run (default config, `crawl-to-shards` as a user runs it)",
                "docs reaching quality",
                "dropped by quality",
                "would drop at `threshold: 0.5`",
                "ppl buckets head / middle / tail",
            ],
            "rows": [
                [
                    RUNS.get(name, name),
                    r["docs_in"],
                    f"{r['docs_dropped']} ({100 * r['drop_share']:.0f} %)",
                    f"{round(r['share_below_0_5'] * r['docs_in'])} ({100 * r['share_below_0_5']:.0f} %)",
                    " / ".join(str(r["ppl_buckets"][b]) for b in ("head", "middle", "tail")),
                ]
                for name, r in shares.items()
            ],
        }
    )
    rates = figures["throughput"]["docs_per_s_per_core"]
    out.append(
        {
            "title": f"Quality-stage throughput, {figures['throughput']['docs']:,} docs",
            "command": command,
            "columns": ["side", "docs/s (wall, contended)", "vs fastText in the same setting"],
            "rows": [
                [label, f"{rates[key]:.1f}", "1x" if key == base else f"{rates[key] / rates[base]:.2f}x"]
                for label, key, base in THROUGHPUT
            ],
        }
    )
    return out


if __name__ == "__main__":
    main()
