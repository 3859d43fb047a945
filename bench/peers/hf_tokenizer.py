"""The peer of bench/tokenizer_throughput.py: HF `tokenizers`, run in the bench-only interpreter.

    RAYON_NUM_THREADS=1 .venv-bench/bin/python -m bench.peers.hf_tokenizer DOCS.json CORPUS.json VOCAB ROUNDS

Trains a `SentencePieceBPETokenizer` on the documents of DOCS.json (a JSON list of texts, one line a
sentence) to VOCAB pieces, then encodes CORPUS.json with `encode_batch` ROUNDS times. After each round it
prints one JSON line (tokens, seconds) and waits for a line on stdin, so the driver interleaves the rounds
with its own and machine contention hits both sides alike.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> None:
    from tokenizers import SentencePieceBPETokenizer

    docs, corpus = (json.loads(Path(arg).read_text()) for arg in argv[:2])
    vocab, rounds = int(argv[2]), int(argv[3])
    tokenizer = SentencePieceBPETokenizer()
    lines = (line for doc in docs for line in doc.split("\n") if line.strip())
    tokenizer.train_from_iterator(lines, vocab_size=vocab, show_progress=False)
    tokenizer.encode_batch(corpus[:50])  # warm-up
    for _ in range(rounds):
        start = time.perf_counter()
        tokens = sum(len(e.ids) + 1 for e in tokenizer.encode_batch(corpus))  # +1: the EOS ours appends
        print(json.dumps({"tokens": tokens, "seconds": time.perf_counter() - start}), flush=True)
        sys.stdin.readline()  # the driver's turn


if __name__ == "__main__":
    main(sys.argv[1:])
