"""MinHash signature throughput: our vectorised batch path vs datasketch's fastest CPU path.

Same documents (real page texts from ../shared/data/extraction_wcxb ground truth), same
normalisation and word 5-gram shingles, 112 permutations, one core (single process, no threads).
Ours: `MinHasher.signatures` (batch-vectorised; base hash xxh32_ngram, and xxh32 over shingle bytes).
datasketch: `MinHash.bulk(shingles, num_perm=112, hashfunc=xxhash.xxh32_intdigest)` -- it needs the
shingle byte strings, so its time includes building them; both include normalisation.
Rounds are interleaved (ours, theirs, ours, ...) and the best round of each is reported, because
the machine is shared.

    .venv/bin/python -m bench.minhash_throughput [--rounds 5]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
import xxhash
from datasketch import MinHash

from bench.results_table import write_result
from pipeline.dedup.minhash import MinHasher
from pipeline.dedup.shingles import word_shingles

DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


def load_texts() -> list[str]:
    path = DATA / "extraction_wcxb" / "ground-truth.jsonl.gz"
    with gzip.open(path, "rt") as f:
        texts = [json.loads(line)["ground_truth"]["main_content"] for line in f]
    return [t for t in texts if t]


def datasketch_signatures(texts: list[str]) -> np.ndarray:
    shingles = [word_shingles(t, 5) for t in texts]
    return np.array(
        [m.hashvalues for m in MinHash.bulk(shingles, num_perm=112, hashfunc=xxhash.xxh32_intdigest)]
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    texts = load_texts()
    words = sum(len(t.split()) for t in texts)
    ours_fast = MinHasher(112, 1, "affine32", "xxh32_ngram", 5)
    ours_bytes = MinHasher(112, 1, "affine32", "xxh32", 5)
    # Correctness first: the xxh32 path equals datasketch with the same hash, value for value.
    assert np.array_equal(ours_bytes.signatures(texts[:50])[0], datasketch_signatures(texts[:50]))
    contenders = {
        "ours xxh32_ngram": lambda: ours_fast.signatures(texts),
        "ours xxh32": lambda: ours_bytes.signatures(texts),
        "datasketch bulk xxh32": lambda: datasketch_signatures(texts),
    }
    best = {name: float("inf") for name in contenders}
    for _ in range(args.rounds):
        for name, fn in contenders.items():
            t0 = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t0)
    ref = best["datasketch bulk xxh32"]
    print(f"{len(texts)} documents, {words} words (mean {words / len(texts):.0f}), 112 permutations, 1 core")
    print(f"{'path':26s} {'best s':>8s} {'docs/s/core':>12s} {'vs datasketch':>14s}")
    for name, secs in best.items():
        print(f"{name:26s} {secs:8.3f} {len(texts) / secs:12.0f} {ref / secs:13.2f}x")
    paths = {
        name: {"best_s": secs, "docs_per_s": len(texts) / secs, "vs_datasketch": ref / secs}
        for name, secs in best.items()
    }
    figures = {"docs": len(texts), "words": words, "rounds": args.rounds, "paths": paths}
    print(write_result("minhash_throughput", [table(figures)], figures))


ROWS = {  # contender -> (row, same signatures as the datasketch run)
    "ours xxh32": ("ours, `hash: xxh32` (XXH32 of shingle bytes)", "yes"),
    "ours xxh32_ngram": ("ours, `hash: xxh32_ngram` (default)", "no (other hash)"),
    "datasketch bulk xxh32": ("datasketch 2.0 `MinHash.bulk`, XXH32", "\u2013"),
}


def table(figures: dict) -> dict:
    docs, rows = figures["docs"], []
    for name, (label, same) in ROWS.items():
        path = figures["paths"][name]
        speed, ratio = f"{path['docs_per_s']:.0f}", f"{path['vs_datasketch']:.2f}x"
        rows.append([label, same, f"{path['best_s']:.3f}", speed, ratio])
    rows[0][-1] = f"**{rows[0][-1]}**"  # the same-output headline
    return {
        "title": f"MinHash signatures, 112 permutations, one core: {docs} real page texts, best of {figures['rounds']} rounds",
        "command": f"taskset -c 0 python -m bench.minhash_throughput --rounds {figures['rounds']}",
        "columns": [
            "path",
            "same signatures as the datasketch run",
            "best s",
            "docs/s/core",
            "vs datasketch",
        ],
        "rows": rows,
    }


if __name__ == "__main__":
    main()
