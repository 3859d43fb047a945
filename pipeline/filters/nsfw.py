"""NSFW filtering: URL pre-checks (before extraction) and an NSFW-word ratio on the text.

URL pre-checks (registered in pipeline/extract/prechecks.py, run inside the extract stage):
- `filter.url_blocklist`: the host or one of its parent domains is on a domain list (UT1 "adult",
  ~4.6 M domains, as RefinedWeb §G.1 and FineWeb do), or the URL / a parent path is on a URL list.
- `filter.url_words`: RefinedWeb's URL word score (Penedo et al. 2023, §G.1), with the word lists
  datatrove's URLFilter ships for FineWeb (RefinedWeb did not publish its own lists): the URL is
  split into words on non-alphanumerics; one "hard" banned word rejects, `soft_word_threshold`
  (2) distinct "soft" words reject, and a banned sub-word anywhere in the URL with separators
  removed (e.g. "2girls1cup") rejects.

Text signal (`NsfwFilter`): hits of the LDNOOBW list for the document's language (falling back to
`ldnoobw_fallback_lang`) divided by the word count. Entries are matched whole-word, case-insensitive,
multi-word entries as phrases. Rejected as `filter.nsfw_words` above `nsfw_word_ratio_max`.

Paths in `filter.nsfw` may be absolute, start with "~", or be relative to the repository root (the
folder holding configs/), never to the current directory, so Spark executors resolve them alike.
A configured list that does not exist is a one-line `ConfigError` telling the user to run
`make blocklists`: a missing list never silently disables the filter.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from pipeline.config import ConfigError, count, default, fraction
from pipeline.files import resolve_path
from pipeline.filters.blocklist import UrlBlocklist, load_hashed_set, read_entries
from pipeline.rules import Rule, names
from pipeline.schema import set_column
from pipeline.settings import Section
from pipeline.stage import Stage, first_failure
from pipeline.urls import url_host

WORD_RE = re.compile(r"\w+")
URL_SPLIT_RE = re.compile(r"[^a-z0-9]+")
# Scripts written without spaces: LDNOOBW entries are matched as substrings and every word
# character counts as a word (a rough stand-in for segmentation).
UNSPACED_LANGS = frozenset({"zh", "ja", "th"})


def require_path(path: str, key: str) -> Path:
    """The resolved path, or a one-line ConfigError naming the config key."""
    resolved = resolve_path(path)
    if not resolved.exists():
        raise ConfigError(
            f"{key}: {resolved} not found; run `make blocklists` to download the lists "
            f"(it writes data/blocklists/blocklists.yaml to pass with --config)"
        )
    return resolved


# --- pre-check: domain and URL blocklists -------------------------------------------------------
def load_url_blocklist(nsfw: NsfwSettings) -> UrlBlocklist:
    key = NsfwSettings.PATH
    domains = [require_path(p, f"{key}.domain_blocklists") for p in nsfw.domain_blocklists or []]
    urls = [require_path(p, f"{key}.url_blocklists") for p in nsfw.url_blocklists or []]
    cache = nsfw.blocklist_cache_dir
    cache_dir = Path(cache).expanduser() if cache else None
    return UrlBlocklist(
        load_hashed_set(domains, "domain", cache_dir), load_hashed_set(urls, "url", cache_dir)
    )


def url_blocklist_precheck(cfg: dict[str, Any]) -> Callable[[str, str], bool]:
    """`check(url, host) -> True` when the URL's host (or a parent domain) or path is blocklisted."""
    blocklist = load_url_blocklist(NsfwSettings.from_config(cfg))  # filter.nsfw owns the lists

    def check(url: str, host: str) -> bool:
        full_host = url_host(url) or host or ""
        return blocklist.blocked(url or "", full_host)

    return check


# --- pre-check: RefinedWeb URL words ------------------------------------------------------------
def _normalize_word(word: str) -> str:
    return URL_SPLIT_RE.sub("", word.lower())


class UrlWordRule:
    """RefinedWeb §G.1 URL score with hard, soft and sub-word lists (datatrove URLFilter semantics)."""

    def __init__(self, hard: set[str], soft: set[str], subwords: set[str], soft_word_threshold: int):
        self.hard = {w for w in hard if w}
        self.soft = {w for w in soft if w}
        self.soft_word_threshold = soft_word_threshold
        words = sorted({w for w in subwords if w}, key=len, reverse=True)
        self.subword_re = re.compile("|".join(map(re.escape, words))) if words else None

    @classmethod
    def from_config(cls, nsfw: NsfwSettings) -> UrlWordRule:
        def load(name: str) -> set[str]:
            path = getattr(nsfw, name)
            if not path:
                return set()
            return {_normalize_word(w) for w in read_entries(require_path(path, f"filter.nsfw.{name}"))}

        return cls(
            load("url_banned_words"),
            load("url_soft_banned_words"),
            load("url_banned_subwords"),
            int(nsfw.soft_word_threshold),
        )

    def violation(self, url: str) -> str | None:
        """ "hard", "soft" or "subword" for the first rule the URL breaks, else None."""
        lowered = url.lower()
        words = set(URL_SPLIT_RE.split(lowered))
        if not self.hard.isdisjoint(words):
            return "hard"
        if len(self.soft.intersection(words)) >= self.soft_word_threshold:
            return "soft"
        if self.subword_re is not None and self.subword_re.search(URL_SPLIT_RE.sub("", lowered)):
            return "subword"
        return None


def url_words_precheck(cfg: dict[str, Any]) -> Callable[[str, str], bool]:
    rule = UrlWordRule.from_config(NsfwSettings.from_config(cfg))  # filter.nsfw owns the lists
    return lambda url, host: rule.violation(url or "") is not None


# --- text signal: LDNOOBW word ratio ------------------------------------------------------------
class BadWordCounter:
    """Counts LDNOOBW entries in a text: whole words/phrases, case-insensitive, non-overlapping."""

    def __init__(self, entries: list[str], unspaced: bool = False):
        self.unspaced = unspaced
        self.substrings: list[str] = []  # matched with str.count (unspaced scripts, emoji entries)
        self.phrases: dict[str, list[tuple[str, ...]]] = {}  # first token -> phrases, longest first
        for entry in {e.strip().lower() for e in entries if e.strip()}:
            tokens = tuple(WORD_RE.findall(entry))
            if unspaced or not tokens:
                self.substrings.append(entry)
            else:
                self.phrases.setdefault(tokens[0], []).append(tokens)
        for options in self.phrases.values():
            options.sort(key=len, reverse=True)
        self.first_tokens = frozenset(self.phrases)

    def count(self, text: str) -> tuple[int, int]:
        """(hits, words) of one text."""
        lowered = text.lower()
        tokens = WORD_RE.findall(lowered)
        words = sum(map(len, tokens)) if self.unspaced else len(tokens)
        hits = sum(lowered.count(s) for s in self.substrings)
        if self.first_tokens.isdisjoint(tokens):  # the common case: no candidate at all
            return hits, words
        i, n = 0, len(tokens)
        while i < n:
            options = self.phrases.get(tokens[i])
            step = 1
            if options:
                for phrase in options:
                    if tuple(tokens[i : i + len(phrase)]) == phrase:
                        hits += 1
                        step = len(phrase)
                        break
            i += step
        return hits, words


@functools.lru_cache(maxsize=64)
def _counter_for(path: str, unspaced: bool) -> BadWordCounter:
    return BadWordCounter(list(read_entries(Path(path))), unspaced)


@dataclass(frozen=True)
class NsfwSettings(Section):
    """Owner of the blocklists: the text rule here and extract's URL pre-checks read them."""

    PATH = "filter.nsfw"
    enabled: bool
    domain_blocklists: tuple[str, ...]
    url_blocklists: tuple[str, ...]
    blocklist_cache_dir: str | None
    url_banned_words: str | None
    url_soft_banned_words: str | None
    url_banned_subwords: str | None
    soft_word_threshold: int = count()
    ldnoobw_dir: str
    ldnoobw_fallback_lang: str
    nsfw_word_ratio_max: float | None = fraction()


class NsfwFilter(Stage):
    name: ClassVar[str] = "filter"
    Settings = NsfwSettings
    section: ClassVar[str] = Settings.PATH.removeprefix("filter.")  # its key under `filter:`
    RULES: ClassVar[tuple[Rule, ...]] = (
        Rule(
            "filter",
            "nsfw_words",
            "filter.nsfw.nsfw_word_ratio_max",
            "<=",
            "nsfw_word_ratio",
            "BigScience ROOTS flagged-word filter (LDNOOBW lists)",
        ),
    )
    rules = names(RULES)
    signals: ClassVar[tuple[pa.Field, ...]] = (
        pa.field("nsfw_word_hits", pa.int32()),
        pa.field("nsfw_word_ratio", pa.float32()),
    )

    def __init__(self, cfg: dict[str, Any]):
        super().__init__(cfg)
        self.ldnoobw_dir = require_path(cfg["ldnoobw_dir"], "filter.nsfw.ldnoobw_dir")
        lang = NsfwSettings.from_section(cfg).ldnoobw_fallback_lang
        self.fallback = lang or default("filter.nsfw.ldnoobw_fallback_lang")  # null: the declared one
        if not (self.ldnoobw_dir / f"{self.fallback}.txt").exists():
            raise ConfigError(
                f"filter.nsfw.ldnoobw_fallback_lang: {self.ldnoobw_dir / (self.fallback + '.txt')} not found; "
                f"run `make blocklists`"
            )

    def counter(self, lang: str | None) -> BadWordCounter:
        lang = (lang or self.fallback).split("-")[0].split("_")[0].lower()
        path = self.ldnoobw_dir / f"{lang}.txt"
        if not path.exists():
            lang, path = self.fallback, self.ldnoobw_dir / f"{self.fallback}.txt"
        return _counter_for(str(path), lang in UNSPACED_LANGS)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        texts = batch.column("text").to_pylist()
        langs = batch.column("lang").to_pylist() if "lang" in batch.schema.names else [None] * len(texts)
        hits = np.zeros(len(texts), dtype=np.int32)
        ratio = np.zeros(len(texts), dtype=np.float32)
        for i, (text, lang) in enumerate(zip(texts, langs)):
            if text:
                h, words = self.counter(lang).count(text)
                hits[i], ratio[i] = h, min(1.0, h / max(words, 1))
        (rule,) = self.RULES
        failed = rule.fails(ratio, rule.limit_in(self.cfg))
        batch = set_column(batch, "nsfw_word_hits", pa.array(hits, pa.int32()))
        batch = set_column(batch, "nsfw_word_ratio", pa.array(ratio, pa.float32()))
        return first_failure(batch, self.name, [("nsfw_words", failed.tolist())])
