"""HTML -> main text with trafilatura, under a per-document time budget.

The trafilatura settings come from the `extract` config section; the defaults in configs/default.yaml
were chosen by measurement (bench/extraction_quality.py, BENCHMARKS.md "Extraction").

Time budget. One pathological page (deeply nested markup, a giant table) can keep trafilatura busy
for minutes and stall a whole Spark partition. A thread cannot be killed from Python, so the budget
is an interval timer whose signal handler raises `ExtractionTimeout` inside the extraction. It
counts CPU time of the process (`ITIMER_PROF`, signal SIGPROF), not wall time: extraction does no
I/O, and on a loaded machine (a shared executor, an oversubscribed laptop) a wall-clock budget would
reject ordinary pages at random, while CPU time depends on the page alone. Python runs signal handlers between bytecodes, so a long
stretch inside one C call (lxml parsing the whole page) finishes first, but trafilatura spends its
time in Python-level tree walks, where the interrupt lands promptly. Signals can only be handled on
the main thread; that is where Spark's Python worker runs `mapInArrow` functions. Elsewhere (a
notebook thread, a thread pool) the budget is not enforced and `time_budget` says so by yielding
False; the payload cap (`extract.max_html_bytes`) still bounds the work.

`ExtractionTimeout` derives from BaseException so trafilatura's own `except Exception` blocks
cannot swallow it.

Cascade (`extract_with_cascade`). The first pass is the fast setting, tuned on articles. Forums,
product grids and listings are where it keeps too little of the page, so passes are added while the
best result so far keeps less than a share of the page's visible text (non-space characters outside
script/style/template), cheapest first:
  1. first          trafilatura with the `extract` setting (every page)
  2. baseline       trafilatura's baseline extractor (JSON-LD bodies, <article>, paragraphs): ~1/3 the
                    CPU of the first pass; runs below `baseline_below_frac`
  3. quality_first  trafilatura with the `quality_first` setting (its readability/jusText comparison):
                    ~2x the CPU of the first pass; runs below `quality_first_below_frac`
Rule: the longest result wins, except one that holds all of the page's visible text (baseline's last
resort dumps the whole body, navigation and footer included: that is no extraction). Each pass
already removes boilerplate, so on pages where the first kept little, more text was the better text
far more often than not. Thresholds and figures: BENCHMARKS.md "Extraction cascade".

Nesting. libxml2 stops building the tree at 256 levels unless asked for huge trees, and trafilatura
then finds no text. The page is parsed once here with `huge_tree` and that tree goes to
every pass; if trafilatura still finds nothing on a page that deep, a plain text walk of the body
keeps the text. The result says which pass produced it and whether the page was that deep, so the
stage can count both.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser as StdlibHTMLParser
from typing import Any

import trafilatura
from lxml import etree
from lxml.html import HtmlComment, HtmlElement, HtmlEntity, HTMLParser, HtmlProcessingInstruction, fromstring

from pipeline.settings import ExtractSettings

# trafilatura logs a warning or an error for every page it finds no text in; the stage counts each
# such page under its own reason, so per-page log lines would only flood the executors' stderr.
logging.getLogger("trafilatura").setLevel(logging.CRITICAL)

# config key -> trafilatura.extract keyword. Everything else stays at trafilatura's default, except
# `deduplicate`, which we never turn on: trafilatura's dedup is a process-wide LRU cache, so whether a
# paragraph survives would depend on which pages the same executor saw before (non-deterministic
# under Spark partitioning; dedup is the job of the dedup stage).
TRAFILATURA_KEYS = {
    "fast": "fast",
    "favor_precision": "favor_precision",
    "favor_recall": "favor_recall",
    "include_comments": "include_comments",
    "include_tables": "include_tables",
}


class ExtractionTimeout(BaseException):
    """The per-document time budget ran out."""


def trafilatura_kwargs(cfg: dict[str, Any]) -> dict[str, Any]:
    """The trafilatura.extract keywords a config section asks for."""
    kwargs = {kw: bool(cfg[key]) for key, kw in TRAFILATURA_KEYS.items() if key in cfg}
    kwargs.update(output_format="txt", deduplicate=False, with_metadata=False)
    return kwargs


@contextlib.contextmanager
def time_budget(seconds: float) -> Iterator[bool]:
    """Raise ExtractionTimeout in the block after `seconds` of CPU time.

    Yields True when the budget is enforced, False when it cannot be (not on the main thread, or no
    budget asked for). A SIGPROF timer or handler set by the caller is restored afterwards.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield False
        return

    def _expired(signum, frame):
        raise ExtractionTimeout(f"extraction exceeded {seconds:g} s")

    previous_handler = signal.signal(signal.SIGPROF, _expired)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_PROF, seconds)
    started = time.process_time()
    try:
        yield True
    finally:
        try:
            signal.setitimer(signal.ITIMER_PROF, 0)
        finally:  # even if the alarm lands right here, the caller's handler comes back
            signal.signal(signal.SIGPROF, previous_handler)
            if previous_delay > 0:  # someone else's timer was running: give it its remaining time back
                remaining = max(previous_delay - (time.process_time() - started), 1e-3)
                signal.setitimer(signal.ITIMER_PROF, remaining, previous_interval)


def extract_main_text(html: str, url: str | None, cfg: dict[str, Any]) -> str:
    """Main text of a page ("" when trafilatura finds none), through the cascade.

    `cfg` is the `extract` config section. Raises ExtractionTimeout past `cfg["timeout_s"]`; any other
    exception from trafilatura propagates for the caller to count.
    """
    with time_budget(float(ExtractSettings.from_section(cfg).timeout_s or 0)):
        return extract_with_cascade(html, url, Cascade.from_config(cfg)).text


def run_trafilatura(html: str | HtmlElement, url: str | None, kwargs: dict[str, Any]) -> str:
    """trafilatura.extract with prepared keywords, no time budget; "" when it finds nothing."""
    return trafilatura.extract(html, url=url, **kwargs) or ""


# --- cascade and nesting -------------------------------------------------------------------------
# trafilatura's own parser settings (trafilatura.utils.HTML_PARSER) plus huge_tree, which lifts
# libxml2's nesting limit from 256 to 2048 levels.
_PARSER = HTMLParser(
    collect_ids=False,
    default_doctype=False,
    encoding="utf-8",
    remove_comments=True,
    remove_pis=True,
    huge_tree=True,
)
# Every element of the tree trafilatura walks (several times per pass) gets its Python object from the
# parser's class lookup. lxml.html's lookup is a Python method, called once per element object made
# (thousands per page), only to hand <form>, <input>, <select>, <textarea> and <label> their subclasses
# of HtmlElement, whose form helpers trafilatura never uses; the same classes from a lookup written in C.
_PARSER.set_element_class_lookup(
    etree.ElementDefaultClassLookup(
        element=HtmlElement, comment=HtmlComment, pi=HtmlProcessingInstruction, entity=HtmlEntity
    )
)
# libxml2's default nesting limit (xmlParserMaxDepth): without huge_tree, an element deeper than this
# ends the parse ("Excessive depth in document: 256") and trafilatura finds no text.
LIBXML2_MAX_DEPTH = 256
_DEEPER_THAN_DEFAULT_LIMIT = "boolean(" + "/*" * (LIBXML2_MAX_DEPTH + 1) + ")"
_INVISIBLE = ("script", "style", "template")

# which pass produced the text, in cascade order
FIRST, BASELINE, QUALITY_FIRST, TEXT_WALK = "first", "baseline", "quality_first", "text_walk"


@dataclass(frozen=True)
class Cascade:
    """The trafilatura settings of the passes and the shares of visible text below which they run."""

    first: dict[str, Any]
    quality_first: dict[str, Any]
    baseline_below_frac: float
    quality_first_below_frac: float

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Cascade:
        """From the `extract` config section."""
        return cls(
            first=trafilatura_kwargs(cfg),
            quality_first=trafilatura_kwargs(cfg["quality_first"]),
            baseline_below_frac=float(cfg["baseline_below_frac"]),
            quality_first_below_frac=float(cfg["quality_first_below_frac"]),
        )


@dataclass(frozen=True)
class Extraction:
    text: str
    extract_pass: str  # FIRST, BASELINE, QUALITY_FIRST or TEXT_WALK: whose output `text` is
    passes_run: int  # extraction passes run on the page (1: the first pass was enough)
    # the first pass's non-space characters / the page's visible ones (None: nothing visible)
    kept_frac: float | None
    deep_nesting: bool  # deeper than libxml2's default limit: trafilatura alone would have lost the page


def extract_with_cascade(html: str, url: str | None, cascade: Cascade) -> Extraction:
    """The passes of the cascade on one page; the text walk for deep pages the tree passes lose."""
    tree, cut_short = parse_html(html)
    if cut_short:  # deeper than even huge_tree allows: any pass over the tree would lose the rest
        return Extraction(walk_text(html), TEXT_WALK, 1, None, True)
    if tree is None:
        return Extraction("", FIRST, 1, None, False)
    visible = visible_chars(tree)
    best, best_pass = run_trafilatura(tree, url, cascade.first), FIRST
    kept = nonspace_chars(best)
    kept_frac = kept / visible if visible > 0 else None
    passes_run = 1
    for name, below_frac in (
        (BASELINE, cascade.baseline_below_frac),
        (QUALITY_FIRST, cascade.quality_first_below_frac),
    ):
        if visible <= 0 or kept >= below_frac * visible:
            continue
        passes_run += 1
        try:
            if name == BASELINE:
                text = trafilatura.baseline(tree)[1]
            else:
                text = run_trafilatura(tree, url, cascade.quality_first)
        except Exception:  # a later pass failing must not lose what the passes before it kept
            continue
        if kept < nonspace_chars(text) < visible:  # longer wins; all of the visible text is no extraction
            best, best_pass, kept = text, name, nonspace_chars(text)
    deep = bool(tree.xpath(_DEEPER_THAN_DEFAULT_LIMIT))
    if deep and visible > 0 and not best.strip():
        best, best_pass = walk_text(html), TEXT_WALK
    return Extraction(best, best_pass, passes_run, kept_frac, deep)


def parse_html(html: str) -> tuple[HtmlElement | None, bool]:
    """The page's tree (None when lxml cannot parse it at all) and whether nesting cut the parse short."""
    try:
        try:
            tree = fromstring(html, parser=_PARSER)
        except ValueError:  # a str with an XML encoding declaration: lxml wants bytes then
            tree = fromstring(html.encode("utf-8", "surrogatepass"), parser=_PARSER)
    except Exception:  # lxml's ParserError for an empty or whitespace-only document
        return None, False
    cut_short = any("Excessive depth" in error.message for error in _PARSER.error_log)
    return tree, cut_short


def visible_chars(tree: HtmlElement) -> int:
    """Non-space characters a reader could see: the body's text minus script, style and templates."""
    body = tree.find(".//body")
    root = tree if body is None else body
    count = nonspace_chars(etree.tostring(root, method="text", encoding="unicode", with_tail=False))
    for element in root.iter(_INVISIBLE):
        if not any(ancestor.tag in _INVISIBLE for ancestor in element.iterancestors()):  # counted once
            count -= nonspace_chars(
                etree.tostring(element, method="text", encoding="unicode", with_tail=False)
            )
    return count


def nonspace_chars(text: str) -> int:
    """Length without whitespace: indentation and line breaks differ between markup and extracted text."""
    return len("".join(text.split()))


class _TextWalker(StdlibHTMLParser):
    """Visible text runs of a document, streamed: the standard library's parser builds no tree, so
    no depth limit applies."""

    HIDDEN = frozenset({"head", *_INVISIBLE})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden_depth = 0
        self.runs: list[str] = []

    def handle_starttag(self, tag: str, attrs) -> None:
        if tag == "body":  # whatever the head left open (an unclosed <head> or <style>) ends here
            self.hidden_depth = 0
        self.hidden_depth += tag in self.HIDDEN

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self.hidden_depth:
            self.hidden_depth -= 1

    def handle_data(self, data: str) -> None:
        if not self.hidden_depth and data.strip():
            self.runs.append(data.strip())


def walk_text(html: str) -> str:
    """Every visible text run, one per line: no boilerplate removal, but no nesting limit either."""
    walker = _TextWalker()
    walker.feed(html)
    walker.close()
    return "\n".join(walker.runs)
