"""Quality classifier figures for BENCHMARKS.md: agreement with human labels, and scoring throughput.

    .venv/bin/python bench/quality_auc.py [--model M] [--docs 4000] [--rounds 2]

1. ROC AUC of `quality_score` against DCLM's human high/low labels (../shared/data/
   quality_human_labels_dclm, never used for training), with a bootstrap 95% interval, next to two
   trivial baselines (document length; share of lines ending in terminal punctuation) so the
   classifier's contribution is visible.
2. Scoring throughput, docs/s on ONE core, side by side and interleaved: our Spark stage
   (`local[1]`, mapInArrow through jobs.rowwise), the same model called from a plain Python loop,
   and the peer, datatrove 0.10.1's FastTextClassifierFilter with the same model file (run with
   .venv-bench in a subprocess). Documents: the human-label texts repeated to `--docs`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", REPO.parent / "shared" / "data"))
LABELS = DATA / "quality_human_labels_dclm" / "human_quality_labels.jsonl"
PEER_PYTHON = REPO / ".venv-bench" / "bin" / "python"

PEER_CODE = """
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import FastTextClassifierFilter
model, path = sys.argv[1], sys.argv[2]
texts = [json.loads(line)["text"] for line in open(path)]
f = FastTextClassifierFilter(model_url=model, keep_labels=("hq", 0.5))
f.filter(Document(text="warm up", id="w"))
start = time.perf_counter()
for i, t in enumerate(texts):
    f.filter(Document(text=t, id=str(i)))
print(json.dumps({"seconds": time.perf_counter() - start}))
"""


def bootstrap_auc(y, s, rounds: int = 2000, seed: int = 0) -> tuple[float, float]:
    from classifiers.quality import roc_auc

    rng = np.random.default_rng(seed)
    aucs = [roc_auc(y[idx], s[idx]) for idx in (rng.integers(0, len(y), len(y)) for _ in range(rounds))]
    return float(np.nanpercentile(aucs, 2.5)), float(np.nanpercentile(aucs, 97.5))


def agreement(model_path: Path) -> dict:
    from classifiers.quality import QualityModel, roc_auc

    rows = [json.loads(line) for line in LABELS.open()]
    y = np.array([r["label"] for r in rows], dtype=bool)
    agree = np.array([r["annotators_agree"] for r in rows], dtype=bool)
    texts = [r["text"] for r in rows]
    scores = QualityModel(model_path).score(texts).astype(np.float64)
    length = np.array([len(t) for t in texts], dtype=np.float64)
    punct = np.array(
        [
            np.mean(
                [ln.rstrip().endswith((".", "!", "?", '"')) for ln in t.splitlines() if ln.strip()] or [0]
            )
            for t in texts
        ]
    )
    out = {"n": len(rows), "n_agree": int(agree.sum())}
    for name, s in (("quality_score", scores), ("baseline_length", length), ("baseline_line_punct", punct)):
        lo, hi = bootstrap_auc(y, s)
        out[name] = {"auc": roc_auc(y, s), "ci95": [lo, hi], "auc_agree": roc_auc(y[agree], s[agree])}
    return out


def spark_throughput(spark, parquet: str, model_path: Path) -> float:
    from jobs.rowwise import run_rowwise
    from pipeline.quality.stage import QualityScorer

    cfg = {"model_path": str(model_path), "score_only": True, "max_words": 1000}
    df = spark.read.parquet(parquet)
    start = time.perf_counter()
    run_rowwise(df, QualityScorer, cfg).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--docs", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import pyarrow as pa
    import pyarrow.parquet as pq

    from classifiers.quality import QualityModel, resolve_model_path
    from jobs.session import get_spark

    model_path = resolve_model_path(args.model)
    result = {"model": str(model_path.relative_to(REPO) if model_path.is_relative_to(REPO) else model_path)}
    result["agreement"] = agreement(model_path)
    print(json.dumps(result["agreement"], indent=2), flush=True)

    base = [json.loads(line)["text"] for line in LABELS.open()]
    texts = [base[i % len(base)] for i in range(args.docs)]
    tmp = Path(tempfile.mkdtemp(prefix="quality_bench_"))
    (tmp / "docs.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    table = pa.table({"doc_id": [str(i) for i in range(len(texts))], "text": texts})
    pq.write_table(table, tmp / "docs.parquet")

    spark = get_spark({"spark": {"master": "local[1]", "arrow_batch_rows": 256}}, master="local[1]")
    spark_throughput(spark, str(tmp / "docs.parquet"), model_path)  # warm-up: workers, model load
    model = QualityModel(model_path)
    times: dict[str, list[float]] = {"spark_stage": [], "python_loop": [], "datatrove_peer": []}
    for _ in range(args.rounds):  # interleaved, so contention on the shared machine hits all sides
        times["spark_stage"].append(spark_throughput(spark, str(tmp / "docs.parquet"), model_path))
        start = time.perf_counter()
        model.score(texts)
        times["python_loop"].append(time.perf_counter() - start)
        if PEER_PYTHON.exists():
            proc = subprocess.run(
                [str(PEER_PYTHON), "-c", PEER_CODE, str(model_path), str(tmp / "docs.jsonl")],
                capture_output=True,
                text=True,
                check=True,
            )
            times["datatrove_peer"].append(json.loads(proc.stdout.strip().splitlines()[-1])["seconds"])
    spark.stop()
    rates = {k: len(texts) / min(v) for k, v in times.items() if v}
    result["throughput_docs_per_s_per_core"] = rates
    if "datatrove_peer" in rates:
        result["ratio_spark_stage_vs_datatrove"] = rates["spark_stage"] / rates["datatrove_peer"]
    result["docs"] = len(texts)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
