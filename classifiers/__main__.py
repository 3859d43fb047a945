"""Command line for the classifiers (no Spark needed).

    python -m classifiers wiki-refs --input enwiki-pages-articles.xml.bz2 --output cited_urls.txt
    python -m classifiers quality-train --positives SRC... --negatives SRC... --output model.ftz
    python -m classifiers quality-score --model M --input docs.jsonl --output scored.jsonl [--lm L|none]
    python -m classifiers lm-build --input SRC... --output classifiers/models/reference_lm_wiki.npz

Sources for training are described in classifiers/quality_data.py (`PATH[#field.path]`).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import Counter
from pathlib import Path

from classifiers.fasttext_text import DEFAULT_MAX_WORDS
from pipeline.config import default


def wiki_refs(args) -> int:
    from classifiers.wikipedia import iter_articles, reference_urls
    from pipeline.urls import registered_domain, url_host

    urls: set[str] = set()
    articles = 0
    for article in iter_articles(args.input):
        articles += 1
        urls.update(reference_urls(article.get("wikitext") or "", refs_only=args.refs_only))
    Path(args.output).write_text("".join(u + "\n" for u in sorted(urls)))
    if args.domains:
        counts = Counter(registered_domain(url_host(u)) for u in urls)
        counts.pop(None, None)
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        Path(args.domains).write_text("".join(f"{d} {n}\n" for d, n in ranked))
    print(f"{articles} articles, {len(urls)} distinct cited URLs -> {args.output}", file=sys.stderr)
    return 0


def quality_train(args) -> int:
    from classifiers.quality import train_quality_model, write_model_card
    from classifiers.quality_data import read_sources

    params = {
        "dim": args.dim,
        "epoch": args.epoch,
        "lr": args.lr,
        "wordNgrams": args.word_ngrams,
        "minCount": args.min_count,
        "bucket": args.bucket,
    }
    report = train_quality_model(
        read_sources(args.positives),
        read_sources(args.negatives),
        args.output,
        seed=args.seed,
        valid_fraction=args.valid_fraction,
        balance=not args.no_balance,
        params=params,
        max_words=args.max_words,
        thread=args.thread,
    )
    report.update(
        positives=args.positives,
        negatives=args.negatives,
        command="python -m classifiers " + shlex.join(sys.argv[1:]),
    )
    report["model"] = Path(args.output).name
    write_model_card(report, Path(args.output).with_suffix(".json"))
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0


def lm_build(args) -> int:
    from classifiers.ngram_lm import build_lm
    from classifiers.quality import write_model_card
    from classifiers.quality_data import read_sources
    from pipeline.files import sha256_file

    lm = build_lm(read_sources(args.input), order=args.order, min_count=args.min_count, prune=args.prune)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    lm.save(output)
    card = {
        **lm.meta,
        "model": output.name,
        "sha256": sha256_file(output),
        "size_bytes": output.stat().st_size,
        "inputs": args.input,
        "command": "python -m classifiers " + shlex.join(sys.argv[1:]),
    }
    write_model_card(card, output.with_suffix(".json"))
    print(json.dumps(card, indent=2, sort_keys=True))
    return 0


def _reference_lm(choice: str | None):
    """`--lm`: a path, `none`, or (unset) the LM the default config enables."""
    from classifiers.ngram_lm import NgramLM, resolve_lm_path
    from pipeline.config import load_config

    if choice == "none":
        return None
    if choice is None:
        ppl = load_config()["quality"]["perplexity"]
        if not ppl["enabled"]:
            return None
        choice = ppl["model"]
    return NgramLM.load(resolve_lm_path(choice))


def quality_score(args) -> int:
    from classifiers.quality import QualityModel, resolve_model_path

    try:  # a missing or corrupt model is one line naming the file, not a traceback
        model = QualityModel(resolve_model_path(args.model), args.max_words)
        lm = _reference_lm(args.lm)
    except (FileNotFoundError, ValueError) as exc:
        print(f"model error: {exc}", file=sys.stderr)
        return 2
    bad_json = no_text = scored = 0

    def flush(records, out):
        texts = [r["text"] for r in records if isinstance(r.get("text"), str)]
        scores = iter(model.score(texts).tolist())
        ppl = iter(lm.perplexity(texts).tolist() if lm else [])
        for r in records:
            has_text = isinstance(r.get("text"), str)
            r["quality_score"] = next(scores) if has_text else None
            if lm:
                value = next(ppl) if has_text else float("nan")
                r["perplexity"] = None if value != value else value  # NaN (no tokens) -> null
            out.write(json.dumps(r, ensure_ascii=False) + "\n")

    with open(args.input, encoding="utf-8", errors="replace") as inp, open(args.output, "w") as out:
        pending = []
        for line in inp:
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                bad_json += 1  # counted and reported below; the good lines around it are kept
                continue
            if not isinstance(record, dict):
                bad_json += 1
                continue
            no_text += not isinstance(record.get("text"), str)
            pending.append(record)
            if len(pending) >= 1024:
                flush(pending, out)
                scored += len(pending)
                pending = []
        flush(pending, out)
        scored += len(pending)
    print(
        f"{scored} records written ({no_text} without text: quality_score null), {bad_json} bad lines skipped",
        file=sys.stderr,
    )
    return 0


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m classifiers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    refs = sub.add_parser("wiki-refs", help="cited URLs of a Wikipedia dump (.xml.bz2) or jsonl excerpt")
    refs.add_argument("--input", required=True)
    refs.add_argument("--output", required=True, help="text file: one normalised URL per line, sorted")
    refs.add_argument("--refs-only", action="store_true", help="only URLs inside <ref> tags")
    refs.add_argument("--domains", help="also write registered domains with their URL counts")
    refs.set_defaults(func=wiki_refs)

    train = sub.add_parser("quality-train", help="train the fastText quality classifier")
    train.add_argument("--positives", nargs="+", required=True, metavar="SRC")
    train.add_argument("--negatives", nargs="+", required=True, metavar="SRC")
    train.add_argument("--output", required=True, help="model path; .ftz = quantized, .bin = full")
    train.add_argument("--seed", type=int, default=1234)
    train.add_argument("--valid-fraction", type=float, default=default("quality.train.valid_fraction"))
    train.add_argument("--no-balance", action="store_true", help="keep every example of the larger class")
    train.add_argument("--dim", type=int, default=default("quality.train.dim"))
    train.add_argument("--epoch", type=int, default=default("quality.train.epoch"))
    train.add_argument("--lr", type=float, default=default("quality.train.lr"))
    train.add_argument("--word-ngrams", type=int, default=default("quality.train.wordNgrams"))
    train.add_argument("--min-count", type=int, default=default("quality.train.minCount"))
    train.add_argument("--bucket", type=int, default=default("quality.train.bucket"))
    train.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS)
    train.add_argument("--thread", type=int, default=1, help="1 = reproducible model (same seed, same bytes)")
    train.set_defaults(func=quality_train)

    score = sub.add_parser("quality-score", help="add quality_score to a jsonl of documents with `text`")
    score.add_argument("--model", help="model file (default: the shipped classifiers/models model)")
    score.add_argument("--input", required=True)
    score.add_argument("--output", required=True)
    score.add_argument("--max-words", type=int, default=DEFAULT_MAX_WORDS)
    score.add_argument(
        "--lm", help="reference LM for `perplexity`; `none` = skip (default: as configs/default.yaml)"
    )
    score.set_defaults(func=quality_score)

    build = sub.add_parser("lm-build", help="build the Kneser-Ney reference LM for the perplexity signal")
    build.add_argument(
        "--input", nargs="+", required=True, metavar="SRC", help="sources as for quality-train"
    )
    build.add_argument("--output", required=True, help="model file (.npz); its card goes next to it (.json)")
    build.add_argument("--order", type=int, default=2, help="n-gram order (BENCHMARKS.md: 2 chosen)")
    build.add_argument("--min-count", type=int, default=2, help="rarer training words become <unk>")
    build.add_argument("--prune", type=int, default=1, help="drop top-order n-grams seen fewer times")
    build.set_defaults(func=lm_build)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
