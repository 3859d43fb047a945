"""The WikiText detokenizer: golden inputs and outputs, and the shared file split into articles."""

from __future__ import annotations

import pytest

from classifiers.wikitext import detokenize, wikitext_articles


@pytest.mark.parametrize(
    "tokenized, plain",
    [
        # in-word hyphen, comma and point markers
        ("the anti @-@ war movement", "the anti-war movement"),
        ("1 @,@ 000 people and 3 @.@ 5 kg", "1,000 people and 3.5 kg"),
        # spaces before punctuation and clitics, after opening brackets and currency signs
        ("It isn 't , he said ; ok : fine ! Yes ?", "It isn't, he said; ok: fine! Yes?"),
        ("the king 's men ( 24 in ) cost $ 5 , or 79 % .", "the king's men (24 in) cost $5, or 79%."),
        # straight double quotes: pairs close around their span
        ('only becoming " lobster red " on " cooking "', 'only becoming "lobster red" on "cooking"'),
        # <unk> dropped, with what it leaves behind (an empty bracket or quote pair)
        ("a species of <unk> lobster", "a species of lobster"),
        ("a process called <unk> ( <unk> ) . Next", "a process called. Next"),
        ('the larger one is the " <unk> " , and', "the larger one is the, and"),
        # headings of any level become a plain line
        (" = Homarus gammarus = ", "Homarus gammarus"),
        (" = = = Early life = = = ", "Early life"),
    ],
)
def test_detokenize_golden(tokenized, plain):
    assert detokenize(tokenized) == plain


def test_detokenize_keeps_one_line_per_paragraph():
    text = " \n = Title = \n \n First paragraph . \n Second , here . \n \n"
    assert detokenize(text) == "Title\nFirst paragraph.\nSecond, here."
    assert detokenize("") == "" and detokenize(" \n <unk> \n") == ""


def test_wikitext2_valid_splits_into_its_60_articles(shared_data):
    articles = wikitext_articles(shared_data / "wikitext2" / "valid.txt")
    assert len(articles) == 60  # the README: 60 Good/Featured articles
    assert articles[0].startswith("Homarus gammarus\nHomarus gammarus, known as the European lobster")
    joined = "\n".join(articles)
    assert not any(marker in joined for marker in (" @-@ ", " @,@ ", " @.@ ", "<unk>", " , ", " . "))
