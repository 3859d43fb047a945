"""The one text normalisation used by every fastText classifier here, at training AND scoring time.

fastText sees whitespace-separated tokens on a single line, so a model is only as good as the
agreement between how its training lines and its scored lines were prepared. Everything that turns
a document into a fastText line goes through `fasttext_line`:

- lowercase (case carries little quality signal and doubles the vocabulary);
- digits mapped to 0, as cc_net does before its language models (Wenzek et al. 2020): "1984" and
  "2016" become the same token, so dates and prices generalise;
- punctuation split off words ("end." -> "end ."), so "end" and "end." share a vector;
- every run of whitespace, newlines included, collapsed to one space (a newline would end the
  fastText example early);
- truncation to the first `max_words` tokens, bounding the cost of 50 MB documents.
"""

from __future__ import annotations

import re

from pipeline.config import default

# tokens kept per document (the head of a page carries its style): quality.max_words in configs/default.yaml
DEFAULT_MAX_WORDS = int(default("quality.max_words"))
_DIGIT = re.compile(r"\d")
# A token is a run of word characters, or a single non-space, non-word character (punctuation).
_TOKEN = re.compile(r"\w+|[^\w\s]")


def fasttext_line(text: str | None, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """`text` as one normalised fastText line (no label, no trailing newline)."""
    if not text:
        return ""
    # Only the head is tokenised: a generous character budget (words average < 10 chars) keeps
    # the regex off the tail of huge documents.
    head = text[: max_words * 20].lower()
    tokens = _TOKEN.findall(_DIGIT.sub("0", head))
    return " ".join(tokens[:max_words])


def labelled_line(label: str, text: str | None, max_words: int = DEFAULT_MAX_WORDS) -> str:
    """A fastText supervised training line: `__label__<label> <normalised text>`."""
    return f"__label__{label} {fasttext_line(text, max_words)}"
