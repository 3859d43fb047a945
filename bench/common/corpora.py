"""The extraction ground truth (../shared/data, see their READMEs) and the token F1 metric against it.

aeb   Zyte/Scrapinghub article-extraction-benchmark, developer half: 92 news/blog articles.
      Metric as the benchmark's README states it: whitespace tokens, multiset (bag of words with counts).
wcxb  WCXB developer subset: 546 pages of 7 page types; the pages with an empty ground truth are
      skipped. Metric as its README states it: lower-cased `\\w+` tokens, multiset.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter

from bench.common.env import DATA


def load_aeb() -> list[dict]:
    root = DATA / "extraction_scrapinghub_aeb"
    truth = json.loads((root / "ground-truth.json").read_text())
    pages = []
    for page_id in sorted(truth):
        html = gzip.decompress((root / "html" / f"{page_id}.html.gz").read_bytes()).decode("utf-8")
        pages.append(
            {
                "id": page_id,
                "url": truth[page_id]["url"],
                "html": html,
                "truth": truth[page_id]["articleBody"],
            }
        )
    return pages


def load_wcxb(every: int = 1) -> list[dict]:
    """Pages with a non-empty ground truth; `every` > 1 keeps every n-th page in id order."""
    root = DATA / "extraction_wcxb"
    pages = []
    with gzip.open(root / "ground-truth.jsonl.gz", "rt", encoding="utf-8") as lines:
        records = sorted((json.loads(line) for line in lines), key=lambda r: r["file_id"])
    for i, rec in enumerate(records):
        truth = rec["ground_truth"]["main_content"] or ""
        if i % every or not truth.strip():
            continue
        html = gzip.decompress((root / "html" / f"{rec['file_id']}.html.gz").read_bytes()).decode("utf-8")
        page_type = rec["_internal"]["page_type"]["primary"]
        pages.append(
            {"id": rec["file_id"], "url": rec["url"], "html": html, "truth": truth, "type": page_type}
        )
    return pages


_WORD = re.compile(r"\w+")


def tokens(text: str, dataset: str) -> Counter:
    if dataset == "wcxb":
        return Counter(_WORD.findall((text or "").lower()))
    return Counter((text or "").split())


def prf(pred: str, truth: str, dataset: str) -> tuple[float, float, float]:
    p_tok, t_tok = tokens(pred, dataset), tokens(truth, dataset)
    overlap = sum((p_tok & t_tok).values())
    if not p_tok or not t_tok or not overlap:
        return (0.0, 0.0, 0.0) if t_tok else (float(not p_tok),) * 3
    precision, recall = overlap / sum(p_tok.values()), overlap / sum(t_tok.values())
    return precision, recall, 2 * precision * recall / (precision + recall)
