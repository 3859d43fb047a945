"""Mixing domains: which bucket of the training mixture a document belongs to.

Rules come from config `mix.domains.rules`, an ordered list of `{domain, host, url}` entries where
`host` is a regex searched in the `host` column (the registered domain, e.g. "bbc.co.uk") and `url`
a regex searched in the canonical URL (`url_norm`). The first matching rule wins; a rule with both patterns
matches when either does. Documents no rule matches fall to `mix.domains.default`, unless an
optional fastText topic classifier (labels `__label__<domain>`) is confident enough to say otherwise.

Patterns run through Arrow's RE2 engine (vectorised over a batch), so they must use the syntax RE2
and Python's `re` share: no look-around, no back-references.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline import layout
from pipeline.settings import DomainSettings


class DomainRule:
    """One `{domain, host, url}` rule; `matches(batch)` is a boolean array over the batch."""

    def __init__(self, spec: dict[str, Any]):
        unknown = set(spec) - {"domain", "host", "url"}
        if unknown or "domain" not in spec or not (spec.get("host") or spec.get("url")):
            raise ValueError(f"domain rule {spec!r}: needs `domain` and a `host` and/or `url` regex")
        # the domain names a folder under OUT/shards: a traversal like "../x" is refused here
        self.domain = layout.path_component(spec["domain"], "mix.domains.rules[].domain")
        self.host = spec.get("host")
        self.url = spec.get("url")

    def matches(self, hosts: pa.Array, urls: pa.Array) -> pa.Array:
        hit = pa.array([False] * len(hosts))
        if self.host:
            hit = pc.or_(
                hit, pc.fill_null(pc.match_substring_regex(hosts, self.host, ignore_case=True), False)
            )
        if self.url:
            hit = pc.or_(hit, pc.fill_null(pc.match_substring_regex(urls, self.url, ignore_case=True), False))
        return hit


class DomainAssigner:
    """The mixing domain of each document (drops nothing); `assign` also says which rule decided."""

    def __init__(self, cfg: dict[str, Any]):
        settings = DomainSettings.from_section(cfg)
        self.default = layout.path_component(settings.default, "mix.domains.default")
        self.domain_rules = [DomainRule(dict(spec)) for spec in settings.rules]
        self.classifier = None
        model_path = settings.classifier_model
        if model_path:
            import fasttext  # optional: only loaded when a topic model is configured

            self.classifier = fasttext.load_model(str(model_path))
        self.classifier_min_prob = float(settings.classifier_min_prob)

    @property
    def domains(self) -> list[str]:
        """Every domain a rule can assign, in rule order, then the default."""
        names = list(dict.fromkeys(rule.domain for rule in self.domain_rules))
        return names + ([self.default] if self.default not in names else [])

    def assign(self, hosts: pa.Array, urls: pa.Array, texts: pa.Array | None = None) -> tuple[list, list]:
        n = len(hosts)
        domain: list[str | None] = [None] * n
        source: list[str | None] = [None] * n
        for i, rule in enumerate(self.domain_rules):
            hit = rule.matches(hosts, urls).to_numpy(zero_copy_only=False)
            for row in hit.nonzero()[0]:
                if domain[row] is None:
                    domain[row], source[row] = rule.domain, f"rule:{i}"
        unmatched = [row for row in range(n) if domain[row] is None]
        if self.classifier is not None and texts is not None and unmatched:
            for row, label in zip(unmatched, self._classify([texts[row].as_py() for row in unmatched])):
                if label is not None:
                    domain[row], source[row] = label, "classifier"
        for row in range(n):
            if domain[row] is None:
                domain[row], source[row] = self.default, "default"
        return domain, source

    def _classify(self, texts: list[str | None]) -> list[str | None]:
        # fastText predicts one line at a time: newlines would end the input early.
        lines = [" ".join((t or "").split())[:10000] for t in texts]
        labels, probs = self.classifier.predict(lines, k=1)
        return [
            _safe_label(lab[0].removeprefix("__label__"))
            if lab and p[0] >= self.classifier_min_prob
            else None
            for lab, p in zip(labels, probs)
        ]


def _safe_label(label: str) -> str | None:
    """A classifier label names a shard folder too; one that is not a safe name decides nothing."""
    return label if layout.SAFE_NAME.fullmatch(label) else None


def check_domain_config(cfg: dict[str, Any]) -> None:
    """Validate `mix.domains` on the driver (rules and names), before any executor builds an assigner."""
    settings = DomainSettings.from_section(cfg)
    layout.path_component(settings.default, "mix.domains.default")
    for spec in settings.rules:
        DomainRule(dict(spec))
