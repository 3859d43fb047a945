"""Reading training texts for the quality classifier from files of the shapes the data comes in.

A source is a path, optionally followed by `#field.path` naming where the text sits in each JSON
record (default `text`):

- `*.jsonl[.gz]`            one record per line (crawl docs, cc_text_samples, WCXB ground truth);
- `*.json`                  a mapping or list of records (the AEB `ground-truth.json`);
- `*.txt`                   the whole file is one document;
- `*.html[.gz]`             a page, extracted with trafilatura as the crawl's extract stage would;
- `wikitext:PATH`           a WikiText file (e.g. ../shared/data/wikitext2/valid.txt), detokenized
  (`classifiers.wikitext`) and cut into paragraph chunks like the Wikipedia articles below;
- `*.xml[.bz2]`, or jsonl records with a `wikitext` field: Wikipedia articles, cut into
  paragraph chunks of crawl-document size (`classifiers.wikipedia.text_chunks`).

Records without text at the field path are counted and skipped, never fatal.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path

from classifiers.wikipedia import article_text, iter_dump_articles, text_chunks
from classifiers.wikitext import wikitext_articles

WIKITEXT_PREFIX = "wikitext:"

log = logging.getLogger(__name__)


def _get(record, dotted: str):
    node = record
    for part in dotted.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _read_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _json_records(path: Path) -> Iterator[dict | None]:
    """Records of a json/jsonl file; a line that is not valid JSON yields None (counted by the caller)."""
    if ".jsonl" in path.suffixes:
        # split on "\n" only: str.splitlines would also cut at U+2028 inside JSON strings
        for line in _read_bytes(path).decode("utf-8", errors="replace").split("\n"):
            if line.strip():
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    yield None
        return
    data = json.loads(_read_bytes(path))
    yield from (data.values() if isinstance(data, dict) else data)


def read_texts(source: str) -> list[str]:
    """The training texts in one source (see the module docstring for the accepted shapes)."""
    if source.startswith(WIKITEXT_PREFIX):
        return [c for art in wikitext_articles(source[len(WIKITEXT_PREFIX) :]) for c in text_chunks(art)]
    path_str, _, field = source.partition("#")
    path = Path(path_str)
    names = path.name.lower()
    if ".xml" in path.suffixes:
        return [c for art in iter_dump_articles(path) for c in text_chunks(article_text(art))]
    if names.endswith((".txt", ".txt.gz")):
        return [_read_bytes(path).decode("utf-8", errors="replace")]
    if names.endswith((".html", ".html.gz", ".htm")):
        import trafilatura  # only needed for HTML sources

        text = trafilatura.extract(_read_bytes(path).decode("utf-8", errors="replace"))
        return [text] if text else []
    texts, missing = [], 0
    for record in _json_records(path):
        if isinstance(record, dict) and "wikitext" in record and not field:
            texts.extend(text_chunks(article_text(record)))
            continue
        value = _get(record, field or "text")
        if isinstance(value, str) and value.strip():
            texts.append(value)
        else:
            missing += 1
    if missing:
        log.warning("%s: %d records without text at %r skipped", source, missing, field or "text")
    return texts


def read_sources(sources: list[str]) -> list[str]:
    return [text for source in sources for text in read_texts(source)]
