"""Wikipedia as a source of quality signal: the URLs articles cite, and the article prose itself.

The LLaMA / GPT-3 recipe trains a classifier to tell pages that Wikipedia cites as references from
random crawl pages. This module reads a MediaWiki `pages-articles` XML dump (`.xml.bz2`, streamed:
a full dump never fits in memory) or the project's jsonl excerpt, and pulls out

- the cited URLs: every URL inside `<ref>` tags (`{{cite web |url=...}}` templates, bracketed
  external links `[http://... label]`, bare URLs) and, outside refs, the external links of the
  article (its "External links" section cites too), normalised with `pipeline.urls.normalize_url`
  so they join with the crawl's `url` column;
- a rough plain-text rendering of the wikitext, cut into paragraph chunks, as extra positives.

Regexes, not a full wikitext parser: on the shared enwiki excerpt they agree with mwparserfromhell
on >= 99% of URLs (tests/test_wikipedia_refs.py), and a dump has millions of pages to get through.
"""

from __future__ import annotations

import bz2
import gzip
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

from pipeline.urls import normalize_url

# --- URLs --------------------------------------------------------------------------------------
_COMMENT = re.compile(r"<!--.*?-->", re.S)
_NOWIKI = re.compile(r"<nowiki\s*>.*?</nowiki\s*>", re.S | re.I)
_REF = re.compile(r"<ref(?:\s[^>]*)?(?<!/)>(.*?)</ref\s*>", re.S | re.I)
# MediaWiki ends a free URL at whitespace and at []<>"; inside templates also at | and {}.
_FREE_URL = re.compile(r"https?://[^\s\[\]<>\"{}|]+", re.I)
_PROTOCOL_RELATIVE = re.compile(r"\[(//[^\s\[\]<>\"{}|]+)")
# `|url=www.example.org/page` in a cite template: a URL without a scheme, which MediaWiki would
# not link but the template still renders as one.
_URL_PARAM = re.compile(r"\|\s*(?:[a-z-]*url)\s*=\s*([^\s|{}\[\]<>\"]+)", re.I)
_TRAILING_PUNCT = ".,;:!?'"


def _clean_url(url: str) -> str:
    # MediaWiki drops trailing punctuation from free URLs, and a ")" unless the URL opened one.
    url = url.rstrip(_TRAILING_PUNCT)
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(_TRAILING_PUNCT)
    return url


def _urls_in(fragment: str) -> list[str]:
    found = [_clean_url(m.group(0)) for m in _FREE_URL.finditer(fragment)]
    found += ["https:" + _clean_url(m.group(1)) for m in _PROTOCOL_RELATIVE.finditer(fragment)]
    for m in _URL_PARAM.finditer(fragment):
        value = _clean_url(m.group(1))
        if "://" not in value and "." in value and not value.startswith("//"):
            found.append("http://" + value)
    return found


def reference_urls(wikitext: str, refs_only: bool = False, normalise: bool = True) -> list[str]:
    """URLs an article cites, in order of appearance, without duplicates.

    `refs_only` keeps those inside `<ref>` tags; otherwise every external link counts. With
    `normalise` (the default) URLs are in `pipeline.urls.normalize_url` form and unparseable
    ones are dropped; without it they are returned as written.
    """
    text = _NOWIKI.sub(" ", _COMMENT.sub(" ", wikitext or ""))
    fragments = [m.group(1) for m in _REF.finditer(text)] if refs_only else [text]
    out: dict[str, None] = {}
    for fragment in fragments:
        for url in _urls_in(fragment):
            key = normalize_url(url) if normalise else url
            if key:
                out.setdefault(key, None)
    return list(out)


# --- plain text ----------------------------------------------------------------------------------
_SELF_CLOSING_REF = re.compile(r"<ref[^>]*/>", re.I)
_TABLE = re.compile(r"\{\|.*?\|\}", re.S)
_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")  # innermost templates; applied until none are left
_FILE_LINK = re.compile(
    r"\[\[(?:file|image|category|[a-z]{2,3}(?:-[a-z]+)?):[^\[\]]*(?:\[\[[^\]]*\]\][^\[\]]*)*\]\]", re.I
)
_WIKILINK = re.compile(r"\[\[(?:[^|\]]*\|)?([^\]]*)\]\]")
_EXT_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+\s*([^\]]*)\]")
_HTML_TAG = re.compile(r"</?[a-z][^>]*>", re.I)
_HEADING = re.compile(r"^=+\s*(.*?)\s*=+\s*$", re.M)
_BOLD_ITALIC = re.compile(r"'{2,}")
_LIST_MARK = re.compile(r"^[*#:;]+\s*", re.M)


def wikitext_to_text(wikitext: str) -> str:
    """A rough plain-text rendering: refs, templates, tables, files and categories removed."""
    text = _NOWIKI.sub(" ", _COMMENT.sub(" ", wikitext or ""))
    text = _SELF_CLOSING_REF.sub("", _REF.sub("", text))
    text = _TABLE.sub("", text)
    previous = None
    while previous != text:  # nested templates: peel the innermost layer each round
        previous, text = text, _TEMPLATE.sub("", text)
    text = _FILE_LINK.sub("", text)
    text = _WIKILINK.sub(r"\1", text)
    text = _EXT_LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _HEADING.sub(r"\1", text)
    text = _LIST_MARK.sub("", _BOLD_ITALIC.sub("", text))
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def text_chunks(text: str, min_chars: int = 200, max_chars: int = 3000) -> list[str]:
    """Consecutive paragraphs joined into chunks of about `max_chars`: crawl-document-sized positives.

    Paragraphs shorter than 40 characters on their own (headings, list stubs) stay attached to the
    chunk they sit in; chunks under `min_chars` are dropped (stubs, disambiguation lines).
    """
    chunks, current = [], []
    size = 0
    for para in (p.strip() for p in text.split("\n")):
        if not para:
            continue
        if size + len(para) > max_chars and size >= min_chars:
            chunks.append("\n".join(current))
            current, size = [], 0
        current.append(para)
        size += len(para) + 1
    if size >= min_chars:
        chunks.append("\n".join(current))
    return chunks


# --- reading articles ----------------------------------------------------------------------------
def _open(path: Path):
    if path.suffix == ".bz2":
        return bz2.open(path, "rb")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return open(path, "rb")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def iter_dump_articles(path: str | Path) -> Iterator[dict]:
    """Main-namespace, non-redirect pages of a `pages-articles` XML dump, streamed.

    Yields `{"id", "title", "wikitext"}`. Pages are cleared once read, so memory stays flat.
    """
    with _open(Path(path)) as fh:
        page: dict = {}
        for _event, elem in ET.iterparse(fh, events=("end",)):
            tag = _local(elem.tag)
            if tag == "title":
                page["title"] = elem.text or ""
            elif tag == "ns":
                page["ns"] = (elem.text or "").strip()
            elif tag == "id" and "id" not in page:  # the page id comes before the revision id
                page["id"] = elem.text
            elif tag == "redirect":
                page["redirect"] = True
            elif tag == "text":
                page["wikitext"] = elem.text or ""
            elif tag == "page":
                if page.get("ns") == "0" and not page.get("redirect"):
                    yield {
                        "id": page.get("id"),
                        "title": page.get("title"),
                        "wikitext": page.get("wikitext") or "",
                    }
                page = {}
                elem.clear()


def iter_articles(path: str | Path) -> Iterator[dict]:
    """Articles from a dump (`*.xml`, `*.xml.bz2`) or a jsonl(.gz) with a `wikitext` field."""
    path = Path(path)
    if ".xml" in path.suffixes:
        yield from iter_dump_articles(path)
        return
    with _open(path) as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def article_text(article: dict) -> str:
    """The article's plain text: the jsonl's ready-made `text` when present, else our rendering."""
    return article.get("text") or wikitext_to_text(article.get("wikitext") or "")
