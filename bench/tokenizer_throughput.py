"""Tokenizer throughput: our sentencepiece tokenisation inside the Spark shards stage vs HF `tokenizers`.

Same text on both sides (the Dolma Common Crawl samples in ../shared/data, repeated to a few MB), the
same vocabulary size, one core each:

    ours/spark   the shards stage's mapInArrow tokeniser (`jobs.shards.tokenize_partition`) on
                 Spark local[1], timed from job start to the summed token count (Spark overhead in)
    ours/inproc  the same `pipeline.shards.tokenize.encode_documents` call without Spark
    hf           HF `tokenizers` SentencePieceBPETokenizer trained on the same text, `encode_batch`
                 with RAYON_NUM_THREADS=1, run in .venv-bench (bench/peers/hf_tokenizer.py)

Rounds interleave the three so machine contention hits them alike. Usage:

    .venv/bin/python -m bench.tokenizer_throughput [--mb 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import functools
import gzip
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.common.env import DATA, PY_PEER, REPO
from bench.results_table import write_result

SAMPLES = DATA / "cc_text_samples"


def load_docs() -> list[str]:
    docs = []
    for path in sorted(SAMPLES.glob("dolma_cc_*.jsonl.gz")):
        if "spans" in path.name:
            continue
        with gzip.open(path, "rt") as f:
            docs += [json.loads(line)["text"] for line in f if line.strip()]
    if not docs:
        raise SystemExit(f"no text samples under {SAMPLES}")
    return docs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=4.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--vocab", type=int, default=8000)
    args = parser.parse_args()

    import pyarrow as pa

    from jobs.frames import spark_schema
    from jobs.session import get_spark
    from jobs.shards import ANNOTATED, TOKENIZED, tokenize_partition
    from pipeline.shards.tokenize import (
        DEFAULT_PII_PLACEHOLDERS,
        encode_documents,
        load_processor,
        train_tokenizer,
    )

    docs = load_docs()
    size = sum(len(d.encode()) for d in docs)
    corpus = docs * max(1, int(args.mb * 1e6 / size))
    corpus_mb = sum(len(d.encode()) for d in corpus) / 1e6
    model = train_tokenizer(docs, {"type": "bpe", "vocab_size": args.vocab}, list(DEFAULT_PII_PLACEHOLDERS))
    sp = load_processor(model)
    vocab = sp.get_piece_size()  # small samples stop short of the requested size; HF gets the same
    print(f"text: {len(corpus)} docs, {corpus_mb:.1f} MB; vocab {vocab}", flush=True)

    spark = get_spark(master="local[1]", app_name="bench-tokenizer")
    n = len(corpus)
    table = pa.table(
        {
            "doc_id": [str(i) for i in range(n)],
            "text": corpus,
            "hq": [False] * n,
            "domain": ["web"] * n,
            "split_u": [0.5] * n,
            "sample_u": [0.5] * n,
            "order_key": list(range(n)),
        },
        schema=ANNOTATED,
    )
    df = spark.createDataFrame(table.to_pandas(), schema=spark_schema(ANNOTATED)).repartition(1).cache()
    df.count()
    stage = functools.partial(tokenize_partition, model=model, cutoffs_json="{}")

    tmp = Path(tempfile.mkdtemp())
    (tmp / "docs.json").write_text(json.dumps(docs))
    (tmp / "corpus.json").write_text(json.dumps(corpus))
    peer = subprocess.Popen(
        [str(PY_PEER), "-m", "bench.peers.hf_tokenizer", str(tmp / "docs.json"), str(tmp / "corpus.json")]
        + [str(vocab), str(args.rounds)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env={**os.environ, "RAYON_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"},
    )
    from pyspark.sql import functions as F

    df.mapInArrow(stage, spark_schema(TOKENIZED)).agg(F.sum("n_tokens")).collect()  # warm the workers
    results: dict[str, list[float]] = {"ours/spark": [], "ours/inproc": [], "hf": []}
    tokens = {}
    for _ in range(args.rounds):
        hf = json.loads(peer.stdout.readline())
        results["hf"].append(hf["tokens"] / hf["seconds"])
        tokens["hf"] = hf["tokens"]

        start = time.perf_counter()
        values, _ = encode_documents(sp, corpus, 1)
        results["ours/inproc"].append(len(values) / (time.perf_counter() - start))
        tokens["ours"] = len(values)

        start = time.perf_counter()
        total = df.mapInArrow(stage, spark_schema(TOKENIZED)).agg(F.sum("n_tokens")).collect()[0][0]
        results["ours/spark"].append(total / (time.perf_counter() - start))
        peer.stdin.write("\n")
        peer.stdin.flush()
    peer.wait()
    spark.stop()

    best = {k: max(v) for k, v in results.items()}
    print(f"tokens: ours {tokens['ours']:,}, hf {tokens['hf']:,}")
    for name, rates in results.items():
        print(f"{name:12s} tokens/s/core: best {best[name]:>12,.0f}  rounds {[f'{r:,.0f}' for r in rates]}")
    # The tokenisers cut text differently (ours splits digits, keeps whitespace runs), so compare text too.
    mb_s = {k: v * corpus_mb / tokens["hf" if k == "hf" else "ours"] for k, v in best.items()}
    print("MB/s/core: " + ", ".join(f"{k} {v:.2f}" for k, v in mb_s.items()))
    print(f"ratio ours/spark : hf = {best['ours/spark'] / best['hf']:.2f} (tokens/s), "
          f"{mb_s['ours/spark'] / mb_s['hf']:.2f} (MB/s)")  # fmt: skip
    print(f"ratio ours/inproc : hf = {best['ours/inproc'] / best['hf']:.2f}")
    sides = {
        name: {
            "mb_s": mb_s[name],
            "vs_hf_per_byte": mb_s[name] / mb_s["hf"],
            "tokens_s_best": best[name],
            "tokens_s_rounds": rates,
            "tokens": tokens["hf" if name == "hf" else "ours"],
        }
        for name, rates in results.items()
    }
    figures = {
        "mb": args.mb,
        "corpus_mb": corpus_mb,
        "docs": len(corpus),
        "vocab": vocab,
        "rounds": args.rounds,
    }
    figures["sides"] = sides
    print(write_result("tokenizer_throughput", [result_table(figures)], figures))


SIDES = {
    "ours/spark": "ours, in the Spark stage",
    "ours/inproc": "ours, same call without Spark",
    "hf": "HF `tokenizers`",
}


def result_table(figures: dict) -> dict:
    rows = []
    for name, label in SIDES.items():
        side = figures["sides"][name]
        rounds = "; ".join(f"{r:,.0f}" for r in side["tokens_s_rounds"])
        rows.append(
            [
                label,
                f"{side['mb_s']:.2f}",
                f"{side['vs_hf_per_byte']:.2f}x",
                f"{side['tokens_s_best']:,.0f} ({rounds})",
                f"{side['tokens']:,}",
            ]
        )
    return {
        "title": f"Tokenizer throughput per core, {figures['corpus_mb']:.1f} MB of Dolma CC text, best of "
        f"{figures['rounds']} interleaved rounds",
        "command": f"python -m bench.tokenizer_throughput --mb {figures['mb']:g} --rounds {figures['rounds']}",
        "columns": [
            "tokenizer",
            "MB/s/core",
            "vs HF per byte",
            "tokens/s/core (best; rounds)",
            f"tokens for the {figures['corpus_mb']:.1f} MB",
        ],
        "rows": rows,
    }


if __name__ == "__main__":
    sys.exit(main())
