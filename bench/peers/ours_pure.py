"""Our stages as plain functions in one process, no engine: the "pure" side of bench/e2e_vs_datatrove.py.

    .venv/bin/python -m bench.peers.ours_pure --warcs DIR --json OUT.json

`process_warc_file` per file, `FilterStage(cfg["filter"]).apply` per batch, then URL dedup, MinHash
signatures + LSH bands + union-find and CCNet line dedup from `pipeline.dedup` (the per-document work
`jobs/dedup.py` does, without Spark). CPU per stage from time.process_time; imports stay outside.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def run_pure(warcs: Path) -> dict:
    """Our stage functions in this process, no engine; CPU per stage from time.process_time."""
    import pyarrow as pa

    from pipeline.config import load_config
    from pipeline.extract.stage import process_warc_file
    from pipeline.filters.stage import FilterStage

    cfg = load_config()
    stages = {}

    started, kept, docs_in = time.process_time(), [], 0
    for path in sorted(warcs.glob("*.warc.gz")):
        for batch in process_warc_file(str(path), cfg, "bench"):
            docs_in += batch.num_rows
            kept.append(batch.filter(pa.compute.is_null(batch.column("drop_reason"))))
    extracted = pa.Table.from_batches(kept).combine_chunks()
    stages["extract"] = {
        "cpu_s": time.process_time() - started,
        "docs_in": docs_in,
        "kept": extracted.num_rows,
    }

    started, kept = time.process_time(), []
    filter_stage = FilterStage(cfg["filter"])
    for batch in extracted.to_batches(max_chunksize=cfg["spark"]["arrow_batch_rows"]):
        out = filter_stage.apply(batch)
        kept.append(out.filter(pa.compute.is_null(out.column("drop_reason"))))
    filtered = pa.Table.from_batches(kept)
    stages["filter"] = {
        "cpu_s": time.process_time() - started,
        "docs_in": extracted.num_rows,
        "kept": filtered.num_rows,
    }

    started = time.process_time()
    urls, texts = filtered.column("url").to_pylist(), filtered.column("text").to_pylist()
    keep = minhash_keep(urls, texts, cfg["dedup"])
    keep = line_dedup_keep(keep, texts, cfg["dedup"]["lines"])
    stages["dedup"] = {
        "cpu_s": time.process_time() - started,
        "docs_in": filtered.num_rows,
        "kept": len(keep),
    }
    return {"stages": stages, "kept_urls_filtered": urls, "kept_urls_dedup": [urls[i] for i in keep]}


def line_dedup_keep(docs: list[int], texts: list[str], cfg: dict) -> list[int]:
    """CCNet line dedup over the kept documents (as jobs/dedup.py): cut lines found in more than
    `max_count` documents, drop documents left under `min_words`."""
    from collections import Counter

    import pyarrow as pa

    from pipeline.dedup.lines import apply_line_removal, line_hashes

    hashes = [line_hashes(texts[i]) for i in docs]
    docs_per_line = Counter(h for doc in hashes for h in set(doc) if h)
    removed = [
        [pos for pos, h in enumerate(doc) if h and docs_per_line[h] > cfg["max_count"]] for doc in hashes
    ]
    batch = pa.RecordBatch.from_pydict(
        {
            "text": pa.array([texts[i] for i in docs], pa.string()),
            "removed_lines": pa.array(removed, pa.list_(pa.int64())),
            "drop_reason": pa.array([None] * len(docs), pa.string()),
        }
    )
    reasons = apply_line_removal(batch, int(cfg["min_words"])).column("drop_reason").to_pylist()
    return [doc for doc, reason in zip(docs, reasons) if reason is None]


def minhash_keep(urls: list[str], texts: list[str], cfg: dict) -> list[int]:
    """URL dedup, then MinHash + LSH bands + union-find; keeps the first document of each cluster."""
    import numpy as np

    from pipeline.dedup.lsh import band_hashes, bands_rows
    from pipeline.dedup.minhash import MinHasher

    first_of_url: dict[str, int] = {}
    for i, url in enumerate(urls):
        first_of_url.setdefault(url, i)
    docs = sorted(first_of_url.values())
    mh = cfg["minhash"]
    hasher = MinHasher(mh["num_perm"], mh["seed"], mh["scheme"], mh["hash"], mh["ngram"])
    bands, rows = bands_rows(mh)
    signatures = np.concatenate(
        [hasher.signatures([texts[i] for i in docs[lo : lo + 256]])[0] for lo in range(0, len(docs), 256)]
    )
    parent = list(range(len(docs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_in_bucket: dict[tuple[int, int], int] = {}
    for i, doc_bands in enumerate(band_hashes(signatures, bands, rows).tolist()):
        for band, bucket in enumerate(doc_bands):
            j = first_in_bucket.setdefault((band, bucket), i)
            if j != i:
                a, b = root(i), root(j)
                parent[max(a, b)] = min(a, b)
    return [docs[i] for i in range(len(docs)) if root(i) == i]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--warcs", type=Path, required=True)
    parser.add_argument("--json", type=Path, required=True)
    args = parser.parse_args()
    import pipeline.extract.stage  # noqa: F401 - imports stay outside the timed sections
    import pipeline.filters.stage  # noqa: F401

    args.json.write_text(json.dumps(run_pure(args.warcs)))


if __name__ == "__main__":
    main()
