"""The peer of bench/filters_vs_datatrove.py: datatrove 0.10.1's heuristic filters, in the bench-only
interpreter (`make bench-env`; the driver starts it on one core):

    .venv-bench/bin/python -m bench.peers.datatrove_filters decisions|speed

`decisions`: for every rule of the driver's `RULES` (that datatrove filter with only that rule on) and
every family of its `FAMILIES` (the filter with the given kwargs), whether each document of the corpus
is dropped. `speed`: the four filters chained as in FineWeb (GopherRepetition, GopherQuality, C4Quality,
FineWebQuality), stopping at the first rejection; (wall s, CPU s, kept). Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import time

from bench.filters_vs_datatrove import FAMILIES, RULES, load_corpus

# each filter's kwargs with every rule off; a rule of RULES switches one back on
GOPHER_QUALITY_OFF = dict(
    min_doc_words=None,
    max_doc_words=None,
    min_avg_word_length=None,
    max_avg_word_length=None,
    max_symbol_word_ratio=None,
    max_bullet_lines_ratio=None,
    max_ellipsis_lines_ratio=None,
    max_non_alpha_words_ratio=None,
    min_stop_words=None,
)
GOPHER_REPETITION_OFF = dict(
    dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None, dup_para_char_frac=None, top_n_grams=(),
    dup_n_grams=(),
)  # fmt: skip
C4_OFF = dict(filter_lorem_ipsum=False, filter_curly_bracket=False, min_num_sentences=-1)
FINEWEB_OFF = dict(line_punct_thr=-1.0, short_line_thr=2.0, char_duplicates_ratio=2.0, new_line_ratio=1e9)


def filters() -> dict:
    """The driver's filter key -> (datatrove class, its kwargs with every rule off)."""
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    return {
        "GQ": (GopherQualityFilter, GOPHER_QUALITY_OFF),
        "GR": (GopherRepetitionFilter, GOPHER_REPETITION_OFF),
        "C4": (C4QualityFilter, C4_OFF),
        "FW": (FineWebQualityFilter, FINEWEB_OFF),
    }


def decisions(texts: list[str]) -> dict[str, list[bool]]:
    import functools

    import datatrove.utils.text as dt_text
    from datatrove.data import Document

    # decisions only: remember every tokenisation (datatrove keeps 5), so 30 passes tokenise once
    dt_text.split_into_parts = functools.lru_cache(maxsize=None)(dt_text.split_into_parts.__wrapped__)
    by_key = filters()

    def drops(kind, kwargs, isolate):
        cls, off = by_key[kind]
        f = cls(**({**off, **kwargs} if isolate else kwargs))
        res = []
        for i, t in enumerate(texts):
            try:
                res.append(f.filter(Document(text=t, id=str(i))) is not True)
            except Exception:  # datatrove divides by zero on some inputs: count as a rejection
                res.append(True)
        return res

    out = {label: drops(kind, kw, True) for label, (_, kind, kw) in RULES.items()}
    for label, (_, _, kind, kw) in FAMILIES.items():
        out[label] = drops(kind, kw, False)
    return out


def speed(texts: list[str]) -> tuple[float, float, int]:
    from datatrove.data import Document

    chain = [cls() for cls, _ in (filters()[k] for k in ("GR", "GQ", "C4", "FW"))]
    docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]
    chain[0].filter(Document(text=texts[0], id="w"))  # warm-up: spaCy load
    chain[2].filter(Document(text=texts[0], id="w"))
    t0, c0 = time.perf_counter(), time.process_time()
    kept = 0
    for doc in docs:
        kept += all(f.filter(doc) is True for f in chain)
    return time.perf_counter() - t0, time.process_time() - c0, kept


if __name__ == "__main__":
    task = {"decisions": decisions, "speed": speed}[sys.argv[1]]
    print(json.dumps(task(load_corpus())))
