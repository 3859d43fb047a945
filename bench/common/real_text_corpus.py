"""A corpus of any size built from real text: the sentences of ../shared/data (WikiText-2 validation
and the Dolma Common Crawl samples), recombined and perturbed, for the scale benchmark of the global
stages (bench/dedup_scale.py --corpus real).

Each document is 3-6 paragraphs of 3-5 sentences drawn at random from the pool, with 3% of its
words replaced by pool words, so paragraphs (one line each) are unique and two documents share few
word 5-grams. On top of that, like the synthetic corpus: 10% of documents are near-copies of a
recent one (2% of words replaced), 5% carry one boilerplate line, 2% repeat a URL. Hosts cycle over
mixing-rule domains (wikipedia, reddit, a news site, a blog, plain sites), so the shards stage
tokenizes several domains.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench.common.env import DATA as SHARED
from pipeline.schema import DOC_SCHEMA
from pipeline.urls import normalize_url

HOSTS = ["en.wikipedia.org", "www.reddit.com", "www.bbc.co.uk", "someone.wordpress.com", "example{}.com"]
BOILERPLATE = "Subscribe to our newsletter for the latest offers and news from our partners"


def sentence_pool(shared: Path = SHARED) -> list[str]:
    """Sentences of at least 6 words from WikiText-2 valid and the Dolma CC samples."""
    texts = [
        line
        for line in (shared / "wikitext2" / "valid.txt").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.strip().startswith("=")
    ]
    for path in sorted((shared / "cc_text_samples").glob("dolma_cc_*.jsonl.gz")):
        with gzip.open(path, "rt", encoding="utf-8") as fh:
            texts += [json.loads(line).get("text") or "" for line in fh]
    sentences = [s.strip() for t in texts for s in re.split(r"(?<=[.!?])\s+", t)]
    return [s for s in sentences if len(s.split()) >= 6]


def _perturb(words: list[str], share: float, vocab: list[str], rng) -> list[str]:
    for j in rng.choice(len(words), size=max(1, int(len(words) * share)), replace=False):
        words[j] = vocab[rng.integers(len(vocab))]
    return words


def write_real_corpus(path: Path, n: int, seed: int = 3, chunk: int = 20000) -> None:
    rng = np.random.default_rng(seed)
    pool = sentence_pool()
    vocab = sorted({w for s in pool[:20000] for w in s.split()})
    t0 = datetime(2024, 1, 1, tzinfo=timezone.utc)
    path.mkdir(parents=True)
    recent: list[str] = []
    for part, start in enumerate(range(0, n, chunk)):
        size = min(chunk, n - start)
        texts = []
        for _ in range(size):
            if recent and rng.random() < 0.10:  # near-duplicate of a recent document
                words = recent[rng.integers(len(recent))].split(" ")
                texts.append(" ".join(_perturb(words, 0.02, vocab, rng)))
                continue
            paragraphs = []
            for _ in range(int(rng.integers(3, 7))):
                chosen = rng.integers(len(pool), size=int(rng.integers(3, 6)))
                words = " ".join(pool[i] for i in chosen).split()
                paragraphs.append(" ".join(_perturb(words, 0.03, vocab, rng)))
            if rng.random() < 0.05:
                paragraphs.insert(0, BOILERPLATE)
            texts.append("\n".join(paragraphs))
            recent.append(texts[-1])
            if len(recent) > 4000:
                del recent[:2000]
        ids = [f"r{start + i:08d}" for i in range(size)]
        hosts = [HOSTS[(start + i) % len(HOSTS)].format((start + i) % 997) for i in range(size)]
        urls = [f"https://{h}/p/{(start + i) if rng.random() > 0.02 else start}" for i, h in enumerate(hosts)]
        table = {
            "doc_id": ids,
            "url": urls,
            "url_norm": [normalize_url(u) for u in urls],  # as the extract stage writes it
            "host": hosts,
            "fetch_time": [t0 + timedelta(minutes=int(x)) for x in rng.integers(0, 10**6, size)],
            "text": texts,
            "quality_score": rng.random(size).astype(np.float32),
        }
        full = pa.Table.from_arrays(
            [
                pa.array(table[f.name], f.type) if f.name in table else pa.nulls(size, f.type)
                for f in DOC_SCHEMA
            ],
            schema=DOC_SCHEMA,
        )
        pq.write_table(full, path / f"part-{part:05d}.parquet")
