"""The peer extractors of bench/extraction_quality.py, run in the bench-only interpreter (`make bench-env`):

    .venv-bench/bin/python -m bench.peers.extractors --system resiliparse|datatrove --dataset aeb|wcxb \
        [--wcxb-every N]

resiliparse: `extract_plain_text(main_content=True)`. datatrove: its `Trafilatura` extractor with its
defaults (favour_precision, no comments, deduplicate, 1 s timeout; the trafilatura 1.11 datatrove pins);
`.extract()` skips only the sandbox that enforces the timeout. Prints JSON: the text of each page by id,
and the CPU seconds of the extraction alone (the pages are loaded before the clock starts).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from bench.common.corpora import load_aeb, load_wcxb

SYSTEMS = ("resiliparse", "datatrove")


def extract(system: str, pages: list[dict]) -> dict[str, str]:
    if system == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text

        return {p["id"]: extract_plain_text(p["html"], main_content=True) for p in pages}
    from datatrove.pipeline.extractors import Trafilatura

    extractor = Trafilatura()
    return {p["id"]: extractor.extract(p["html"]) or "" for p in pages}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.peers.extractors")
    parser.add_argument("--system", choices=SYSTEMS, required=True)
    parser.add_argument("--dataset", choices=("aeb", "wcxb"), required=True)
    parser.add_argument("--wcxb-every", type=int, default=1, help="every n-th WCXB page (1 = all)")
    args = parser.parse_args()
    pages = load_aeb() if args.dataset == "aeb" else load_wcxb(args.wcxb_every)
    started = time.process_time()
    outputs = extract(args.system, pages)
    json.dump({"outputs": outputs, "cpu_s": time.process_time() - started}, sys.stdout)


if __name__ == "__main__":
    main()
