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
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import trafilatura

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
    """Main text of a page ("" when trafilatura finds none).

    `cfg` is the `extract` config section. Raises ExtractionTimeout past `cfg["timeout_s"]`; any other
    exception from trafilatura propagates for the caller to count.
    """
    with time_budget(float(ExtractSettings.from_section(cfg).timeout_s or 0)):
        return run_trafilatura(html, url, trafilatura_kwargs(cfg))


def run_trafilatura(html: str, url: str | None, kwargs: dict[str, Any]) -> str:
    """trafilatura.extract with prepared keywords, no time budget; "" when it finds nothing."""
    return trafilatura.extract(html, url=url, **kwargs) or ""
