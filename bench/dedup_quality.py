"""Duplicate-detection quality: our Spark MinHash dedup vs exact in-memory datasketch.MinHashLSH.

(a) Planted near-duplicates: every real page text (../shared/data/extraction_wcxb ground truth,
    >= 100 words) is an original; for most originals one copy is planted, edited (random word
    replacements, searched until the word-5-gram Jaccard to the original hits a target level:
    0.3 ... 1.0). A pair is found when exactly one of the two survives; a removal is correct when
    the removed document's kept representative is from its own family.
(b) ../shared/data/neardup_clough_stevenson: independent ("non") answers must never be removed.

Both sides use 112 permutations and 14 bands x 8 rows (FineWeb). Ours: `jobs.dedup.dedup_frame`
(MinHash step only) on local Spark. datasketch: MinHash (its default sha1 hash) + MinHashLSH with
params=(14, 8), clusters by union-find over query results, smallest doc_id kept.

    .venv/bin/python -m bench.dedup_quality     # writes bench/results/dedup_quality.json
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path

from datasketch import MinHash, MinHashLSH

from bench.results_table import write_result
from pipeline.dedup.lsh import collision_probability
from pipeline.dedup.shingles import word_shingles

DATA = Path(os.environ.get("WEBDATA_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
LEVELS = [0.3, 0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95, 1.0]


def jaccard(a: str, b: str) -> float:
    sa, sb = set(word_shingles(a)), set(word_shingles(b))
    return len(sa & sb) / len(sa | sb) if sa | sb else 1.0


def edit_to_level(rng: random.Random, text: str, target: float) -> tuple[str, float]:
    """Replace random words until the shingle Jaccard to `text` is closest to `target`."""
    words = text.split()
    lo, hi, best = 0, len(words), (text, 1.0)
    order = rng.sample(range(len(words)), len(words))
    while lo <= hi:  # Jaccard falls as the number of replaced words grows
        k = (lo + hi) // 2
        edited = list(words)
        for i in order[:k]:
            edited[i] = f"edit{rng.randrange(10**6)}"
        candidate = " ".join(edited)
        j = jaccard(text, candidate)
        if abs(j - target) < abs(best[1] - target):
            best = (candidate, j)
        lo, hi = (k + 1, hi) if j > target else (lo, k - 1)
    return best


def planted_corpus(seed: int = 7) -> tuple[list[dict], dict[str, str], dict[str, float]]:
    with gzip.open(DATA / "extraction_wcxb" / "ground-truth.jsonl.gz", "rt") as f:
        texts = [json.loads(line)["ground_truth"]["main_content"] for line in f]
    texts = sorted({t for t in texts if t and len(t.split()) >= 100})
    rng = random.Random(seed)
    docs, family, level = [], {}, {}
    for i, text in enumerate(texts):
        docs.append({"doc_id": f"o{i:04d}", "text": text})
        family[f"o{i:04d}"] = f"f{i}"
        if i % 7 == 6:  # one original in seven has no copy
            continue
        copy, j = edit_to_level(rng, text, LEVELS[i % len(LEVELS)])
        docs.append({"doc_id": f"c{i:04d}", "text": copy})
        family[f"c{i:04d}"], level[f"f{i}"] = f"f{i}", j
    return docs, family, level


def datasketch_dedup(docs: list[dict]) -> dict[str, str | None]:
    """doc_id -> kept representative's doc_id for removed docs, None for kept ones."""
    lsh = MinHashLSH(num_perm=112, params=(14, 8))
    sigs = {}
    for d in docs:
        shingles = word_shingles(d["text"])
        if not shingles:
            continue
        m = MinHash(num_perm=112)
        m.update_batch(shingles)
        sigs[d["doc_id"]] = m
        lsh.insert(d["doc_id"], m)
    parent = {k: k for k in sigs}

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for key, m in sigs.items():
        for other in lsh.query(m):
            a, b = find(key), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    clusters = defaultdict(list)
    for key in sigs:
        clusters[find(key)].append(key)
    result: dict[str, str | None] = {d["doc_id"]: None for d in docs}
    for members in clusters.values():
        keep = min(members)
        for m in members:
            result[m] = None if m == keep else keep
    return result


def spark_dedup(docs: list[dict]) -> dict[str, str | None]:
    import pyarrow as pa

    from jobs.dedup import dedup_frame
    from jobs.frames import dataframe_from_arrow
    from jobs.session import get_spark
    from pipeline.config import load_config
    from pipeline.schema import DOC_SCHEMA
    from pipeline.settings import DedupSettings

    cfg = load_config(overrides={"dedup.url_enabled": False, "dedup.lines_enabled": False})
    spark = get_spark(cfg, master="local[2]", app_name="dedup-quality")
    spark.conf.set("spark.sql.shuffle.partitions", "4")
    rows = [{**d, "url": f"https://example.com/{d['doc_id']}"} for d in docs]
    df = dataframe_from_arrow(spark, pa.Table.from_pylist(rows, schema=DOC_SCHEMA))
    out, _ = dedup_frame(df, DedupSettings.from_config(cfg))
    return {r["doc_id"]: r["duplicate_of"] for r in out.select("doc_id", "duplicate_of").collect()}


def score(result: dict[str, str | None], family: dict[str, str], level: dict[str, float]) -> dict:
    removed = {d: rep for d, rep in result.items() if rep is not None}
    correct = sum(family[d] == family[rep] for d, rep in removed.items())
    found_by_level: dict[float, list[int]] = defaultdict(lambda: [0, 0])
    survivors = Counter(family[d] for d, rep in result.items() if rep is None)
    for fam, j in level.items():
        bucket = min(LEVELS, key=lambda lv: abs(lv - j))
        found_by_level[bucket][1] += 1
        found_by_level[bucket][0] += survivors[fam] == 1
    lost_families = sum(1 for fam in set(family.values()) if survivors[fam] == 0)
    return {
        "removed": len(removed),
        "precision": correct / len(removed) if removed else 1.0,
        "found": {lv: found_by_level[lv] for lv in sorted(found_by_level)},
        "families_with_no_survivor": lost_families,
        "unrelated_removed": len(removed) - correct,
    }


def clough_stevenson(run) -> dict[str, tuple[int, int]]:
    path = DATA / "neardup_clough_stevenson" / "documents.jsonl"
    records = [json.loads(line) for line in path.open()]
    docs = [{"doc_id": r["file"], "text": r["text"]} for r in records]
    result = run(docs)
    by_cat: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for r in records:
        by_cat[r["category"]][1] += 1
        by_cat[r["category"]][0] += result[r["file"]] is not None
    return {cat: tuple(v) for cat, v in sorted(by_cat.items())}


CATEGORIES = {  # Clough & Stevenson category -> how the table names it, in its order
    "non": "non (independent)",
    "heavy": "heavy revision",
    "light": "light revision",
    "cut": "cut (copy-paste)",
    "orig": "orig (source)",
}
COMMAND = ".venv/bin/python -m bench.dedup_quality"


def level_rows(ours: dict, theirs: dict) -> list[list]:
    """One row per Jaccard level; the top levels where every column reads the same share one row."""
    rows = []
    for lv, (f_ours, n) in ours["found"].items():
        shares = [
            f"{collision_probability(lv, 14, 8):.3f}",
            f"{f_ours / n:.3f}",
            f"{theirs['found'][lv][0] / n:.3f}",
        ]
        if rows and rows[-1][2:] == shares and shares == ["1.000"] * 3:
            first = rows.pop()
            rows.append([f"{first[0].split(' - ')[0]} - {lv:.2f}", first[1] + n, *shares])
        else:
            rows.append([f"{lv:.2f}", n, *shares])
    return rows


def tables(n_docs: int, ours: dict, theirs: dict, cs_ours: dict, cs_ds: dict) -> list[dict]:
    precision = ", ".join(
        f"{name} {s['precision']:.3f} ({s['removed']} removed, {s['unrelated_removed']} unrelated, "
        f"{s['families_with_no_survivor']} families left with no copy)"
        for name, s in (("ours", ours), ("datasketch", theirs))
    )
    return [
        {
            "title": f"(a) Planted near-duplicates: share found per Jaccard level ({n_docs} documents, 14 bands x 8 rows)",
            "command": COMMAND,
            "columns": ["Jaccard", "pairs", "P(LSH)", "ours found", "datasketch found"],
            "rows": level_rows(ours, theirs),
            "notes": f"Precision: {precision}.",
        },
        {
            "title": "(b) Clough & Stevenson (tasks a-c): removed / documents",
            "command": COMMAND,
            "columns": ["category", "ours", "datasketch"],
            "rows": [
                [label, f"{cs_ours[cat][0]}/{cs_ours[cat][1]}", f"{cs_ds[cat][0]}/{cs_ds[cat][1]}"]
                for cat, label in CATEGORIES.items()
                if cat in cs_ours
            ],
        },
    ]


def main() -> None:
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args()
    docs, family, level = planted_corpus()
    print(f"(a) planted corpus: {len(docs)} documents, {len(level)} planted copies", file=sys.stderr)
    ours, theirs = score(spark_dedup(docs), family, level), score(datasketch_dedup(docs), family, level)
    cs_ours, cs_ds = clough_stevenson(spark_dedup), clough_stevenson(datasketch_dedup)
    figures = {
        "planted": {"ours": ours, "datasketch": theirs},
        "clough_stevenson": {"ours": cs_ours, "datasketch": cs_ds},
    }
    print(write_result("dedup_quality", tables(len(docs), ours, theirs, cs_ours, cs_ds), figures))


if __name__ == "__main__":
    main()
