"""Cited URLs and plain text from Wikipedia wikitext and dumps (classifiers/wikipedia.py)."""

from __future__ import annotations

import bz2
import subprocess
import sys

import pytest

from classifiers.wikipedia import (
    article_text,
    iter_articles,
    reference_urls,
    text_chunks,
    wikitext_to_text,
)
from pipeline.urls import normalize_url

WIKITEXT = """'''Widget''' is a [[gadget|device]].<ref>{{cite web |url=https://Example.com/a/?utm_source=x&b=2 |title=A}}</ref>
It was described in 1990.<ref name="n1">[http://news.example.org/story.html Story], retrieved.</ref>
See also<ref name="n1"/> http://bare.example.net/page. and <!-- http://hidden.example.com/ -->
<ref>{{cite journal |chapter-url=www.journal.example/ch1 |title=B}} (see http://paren.example/x_(y)).</ref>
<ref>[//proto.example.com/p label]</ref>
==External links==
* [https://outside.example.com/home Official site]
{{Infobox thing|name=Widget|image=[[File:W.png|thumb|A [[widget]]]]}}
[[Category:Devices]]
"""


def test_reference_urls_golden():
    # Hand-derived: each ref form once, normalised (lowercase host, tracking params and trailing
    # slash gone, query sorted), trailing punctuation and unbalanced ")" stripped, comments ignored.
    in_refs = [
        "https://example.com/a?b=2",
        "http://news.example.org/story.html",
        "http://paren.example/x_(y)",
        "http://www.journal.example/ch1",
        "https://proto.example.com/p",
    ]
    assert reference_urls(WIKITEXT, refs_only=True) == in_refs
    everything = reference_urls(WIKITEXT)
    assert set(everything) == set(in_refs) | {
        "http://bare.example.net/page",
        "https://outside.example.com/home",
    }
    assert "http://hidden.example.com/" not in everything
    assert (
        reference_urls(WIKITEXT, refs_only=True, normalise=False)[0]
        == "https://Example.com/a/?utm_source=x&b=2"
    )


def test_reference_urls_bad_input_is_empty():
    assert reference_urls("") == []
    assert reference_urls(None) == []  # type: ignore[arg-type]
    assert reference_urls("<ref>http://[::1:bad/</ref> ftp://x.org/") == []


def test_wikitext_to_text_and_chunks():
    text = wikitext_to_text(WIKITEXT)
    assert text.startswith("Widget is a device.\nIt was described in 1990.")
    for gone in ("<ref", "{{", "[[", "Category", "utm_source", "hidden"):
        assert gone not in text
    assert "Official site" in text and "External links" in text
    paras = "\n".join(["x" * 100] * 10)
    chunks = text_chunks(paras, min_chars=150, max_chars=350)
    # 3 paragraphs (3 * 100 + 2 newlines) fill a chunk; the 10th paragraph alone is under min_chars.
    assert [len(c) for c in chunks] == [302, 302, 302]
    assert text_chunks("short", min_chars=200) == []


DUMP = """<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>Wikipedia</sitename></siteinfo>
  <page><title>Widget</title><ns>0</ns><id>7</id>
    <revision><id>99</id><text xml:space="preserve">{wikitext}</text></revision></page>
  <page><title>Widgets</title><ns>0</ns><id>8</id><redirect title="Widget" />
    <revision><id>100</id><text>#REDIRECT [[Widget]] http://redirect.example.com/</text></revision></page>
  <page><title>Talk:Widget</title><ns>1</ns><id>9</id>
    <revision><id>101</id><text>&lt;ref&gt;http://talk.example.com/&lt;/ref&gt;</text></revision></page>
</mediawiki>
"""


@pytest.fixture()
def dump_path(tmp_path):
    from xml.sax.saxutils import escape

    path = tmp_path / "enwiki-test-pages-articles.xml.bz2"
    path.write_bytes(bz2.compress(DUMP.format(wikitext=escape(WIKITEXT)).encode()))
    return path


def test_dump_streams_main_namespace_articles_only(dump_path):
    articles = list(iter_articles(dump_path))
    assert [(a["id"], a["title"]) for a in articles] == [("7", "Widget")]
    assert articles[0]["wikitext"] == WIKITEXT
    assert article_text(articles[0]) == wikitext_to_text(WIKITEXT)


def test_wiki_refs_cli(dump_path, tmp_path):
    urls, domains = tmp_path / "urls.txt", tmp_path / "domains.txt"
    cmd = [sys.executable, "-m", "classifiers", "wiki-refs", "--input", str(dump_path), "--output", str(urls)]
    subprocess.run([*cmd, "--domains", str(domains)], check=True, capture_output=True)
    assert urls.read_text().splitlines() == sorted(reference_urls(WIKITEXT))
    # example.com counts example.com, proto.example.com and outside.example.com; hosts under an
    # unknown suffix (".example") stay whole; ties are ordered by name.
    assert domains.read_text().splitlines() == [
        "example.com 3",
        "example.net 1",
        "example.org 1",
        "paren.example 1",
        "www.journal.example 1",
    ]


def test_agrees_with_mwparserfromhell_on_real_articles(shared_data):
    # The excerpt lists each article's URLs as extracted by mwparserfromhell; we must find the same.
    path = shared_data / "wikipedia_positives" / "enwiki_2016_articles.jsonl.gz"
    for refs_only, key in ((True, "cited_urls_in_refs"), (False, "all_external_urls")):
        tp = fp = fn = 0
        for art in iter_articles(path):
            ours = set(reference_urls(art["wikitext"], refs_only=refs_only))
            theirs = {u for u in map(normalize_url, art[key]) if u}
            tp, fp, fn = tp + len(ours & theirs), fp + len(ours - theirs), fn + len(theirs - ours)
        assert tp > 2000
        assert tp / (tp + fp) >= 0.99 and tp / (tp + fn) >= 0.99, (key, tp, fp, fn)
