"""WikiText (Merity et al. 2016) back to ordinary text, for quality positives and the reference LM.

WikiText ships Wikipedia Good/Featured articles tokenized: punctuation split off by spaces,
` @-@ ` / ` @,@ ` / ` @.@ ` for hyphens, commas and points inside words and numbers, `<unk>` for
words outside its 33k vocabulary, ` = Title = ` article titles and ` = = Section = = ` headings.
A classifier trained on that form would learn "spaces before commas" as the mark of quality, so
`detokenize` undoes it before the text is used anywhere.
"""

from __future__ import annotations

import re
from pathlib import Path

_IN_WORD = re.compile(r" @([-,.])@ ")  # "3 @.@ 5" -> "3.5", "anti @-@ war" -> "anti-war"
_UNK = re.compile(r"(?:^| )<unk>(?= |$)")  # the token and the space that separates it
_HEADING = re.compile(r"^(?:= )+(.*?)(?: =)+$")  # "= = Section = =" (after strip)
_SPACE_BEFORE = re.compile(r" ([,.;:!?)\]%]|'s\b|'t\b|'m\b|'ve\b|'re\b|'ll\b|'d\b)")
_SPACE_AFTER = re.compile(r"([(\[$]) ")
_QUOTED = re.compile(r'" ?([^"]*?) ?"')  # a pair of straight double quotes around a span
_EMPTY_PAIR = re.compile(r' ?(?:""|\(\)|\[\])')  # what is left of `( <unk> )` and `" <unk> "`
_SPACES = re.compile(r" {2,}")
_TITLE = re.compile(r"^ = [^=].* = $")  # a level-1 heading: the start of a new article


def detokenize(text: str) -> str:
    """WikiText's tokenized form as plain text: one paragraph or heading per line, blank lines gone.

    Headings become their own line without the `=` marks (as an extractor would render them);
    `<unk>` tokens are dropped; spaces before closing punctuation and clitics (`'s`, `n't`), after
    opening brackets and currency signs, and inside pairs of double quotes are removed.
    """
    lines = []
    for raw in text.split("\n"):
        line = raw.strip()
        heading = _HEADING.match(line)
        if heading:
            line = heading.group(1)
        line = _IN_WORD.sub(r"\1", _UNK.sub("", line))
        line = _SPACES.sub(" ", line).strip()
        line = _QUOTED.sub(r'"\1"', line)
        line = _SPACE_AFTER.sub(r"\1", _SPACE_BEFORE.sub(r"\1", line))
        line = _EMPTY_PAIR.sub("", line).strip()
        if line:
            lines.append(line)
    return "\n".join(lines)


def wikitext_articles(path: str | Path) -> list[str]:
    """The articles of a WikiText file (split at its ` = Title = ` lines), each detokenized."""
    articles: list[list[str]] = []
    for line in Path(path).read_text(encoding="utf-8").split("\n"):
        if _TITLE.match(line) or not articles:
            articles.append([])
        articles[-1].append(line)
    return [text for text in (detokenize("\n".join(a)) for a in articles) if text]
