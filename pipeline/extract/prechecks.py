"""Cheap URL-level checks that run before HTML extraction (the expensive part of the crawl).

A check is registered here by name; `extract.url_prechecks` in the config lists the ones
a run uses. A check factory takes the whole run config and returns `check(url, host) -> bool`
(True = reject). The registered name is the `drop_reason` the rejected record gets, so the rule
keeps its own name ("filter.url_blocklist") even though it runs inside the extract stage.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.filters.nsfw import url_blocklist_precheck, url_words_precheck
from pipeline.settings import ExtractSettings

UrlCheck = Callable[[str, str], bool]

# drop_reason -> factory; a factory is called once per executor process (it loads its lists then).
PRECHECKS: dict[str, Callable[[dict[str, Any]], UrlCheck]] = {
    "filter.url_blocklist": url_blocklist_precheck,
    "filter.url_words": url_words_precheck,
}


def build_prechecks(cfg: dict[str, Any]) -> list[tuple[str, UrlCheck]]:
    names = ExtractSettings.from_config(cfg).url_prechecks or ()
    checks = []
    for name in names:
        if name not in PRECHECKS:
            raise ValueError(f"extract.url_prechecks: unknown check {name!r} (known: {sorted(PRECHECKS)})")
        checks.append((name, PRECHECKS[name](cfg)))
    return checks


def first_blocked(checks: list[tuple[str, UrlCheck]], url: str, host: str) -> str | None:
    """Name of the first check that rejects this URL, or None."""
    for name, check in checks:
        if check(url, host):
            return name
    return None
