"""Recall and precision per PII type of pipeline.filters.pii on the Presidio synthetic set.

    .venv/bin/python -m bench.pii_eval [--data ../shared/data/pii_presidio_synthetic/synth_dataset_v2_shared.json]

Data: microsoft/presidio-research `synth_dataset_v2.json` (developer half, 750 template sentences with
labelled character spans). A predicted span is a true positive when it overlaps a labelled span of
the mapped type (each labelled span counted once); a prediction overlapping no labelled span of its
type is a false positive (this includes hits on spans of types we do not detect, e.g. ZIP codes).
"""

from __future__ import annotations

import argparse
import glob
import gzip
import json
import time
from pathlib import Path

from bench.common.env import DATA
from bench.results_table import write_result
from pipeline.filters.pii import TYPES, find_pii

CC_SAMPLES = DATA / "cc_text_samples"
DEFAULT_DATA = DATA / "pii_presidio_synthetic" / "synth_dataset_v2_shared.json"
# Presidio entity type -> our type
ENTITY_MAP = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "IP_ADDRESS": "ip",
    "CREDIT_CARD": "card",
    "US_SSN": "ssn",
    "IBAN_CODE": "iban",
}


def evaluate(records: list[dict]) -> dict[str, dict[str, float]]:
    """{type: {gold, predicted, tp_gold, tp_pred, recall, precision}}; types with no gold and no prediction omitted."""
    stats = {kind: {"gold": 0, "predicted": 0, "tp_gold": 0, "tp_pred": 0} for kind in TYPES}
    misses: dict[str, list[str]] = {kind: [] for kind in TYPES}
    for record in records:
        text = record["full_text"]
        gold = [
            (s["start_position"], s["end_position"], ENTITY_MAP[s["entity_type"]])
            for s in record["spans"]
            if s["entity_type"] in ENTITY_MAP
        ]
        pred = find_pii(text)
        for start, end, kind in gold:
            stats[kind]["gold"] += 1
            if any(p.type == kind and p.start < end and start < p.end for p in pred):
                stats[kind]["tp_gold"] += 1
            else:
                misses[kind].append(text[start:end])
        for p in pred:
            stats[p.type]["predicted"] += 1
            if any(kind == p.type and p.start < end and start < p.end for start, end, kind in gold):
                stats[p.type]["tp_pred"] += 1
            else:
                misses[p.type].append("FP:" + text[p.start : p.end])
    out = {}
    for kind, s in stats.items():
        if s["gold"] or s["predicted"]:
            recall = s["tp_gold"] / s["gold"] if s["gold"] else float("nan")
            precision = s["tp_pred"] / s["predicted"] if s["predicted"] else float("nan")
            out[kind] = {**s, "recall": recall, "precision": precision, "errors": misses[kind]}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--show-errors", action="store_true", help="print missed and false-positive spans")
    args = parser.parse_args()
    records = json.loads(args.data.read_text())
    t0 = time.perf_counter()
    result = evaluate(records)
    elapsed = time.perf_counter() - t0
    print(f"{len(records)} records, {elapsed * 1e3 / len(records):.3f} ms/record (incl. scoring)")
    table = {
        "title": f"PII detection on the Presidio synthetic set ({len(records)} sentences)",
        "command": "python -m bench.pii_eval",
        "columns": ["type", "gold spans", "predicted", "recall", "precision"],
        "rows": [
            [kind, s["gold"], s["predicted"], f"{s['recall']:.3f}", f"{s['precision']:.3f}"]
            for kind, s in result.items()
        ],
    }
    print(write_result("pii_eval", [table]))
    # Real web text has no labels: every hit is printed with context for inspection by hand.
    texts = [
        json.loads(line)["text"]
        for path in sorted(glob.glob(str(CC_SAMPLES / "dolma_cc_*.jsonl.gz")))
        if "spans" not in path
        for line in gzip.open(path, "rt")
    ]
    t0 = time.perf_counter()
    hits = [(text, span) for text in texts for span in find_pii(text)]
    elapsed = time.perf_counter() - t0
    chars = sum(map(len, texts))
    print(
        f"real CC text: {len(texts)} docs, {chars} chars, {len(hits)} hits, {chars / elapsed / 1e6:.1f} MB/s"
    )
    for text, s in hits:
        print(f"  {s.type}: {text[max(0, s.start - 20) : s.end + 5]!r}")
    if args.show_errors:
        for kind, s in result.items():
            print(kind, s["errors"])


if __name__ == "__main__":
    main()
