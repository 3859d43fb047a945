"""Every thresholded rule of the pipeline, as its stage declares it (`pipeline.rules.Rule`), gathered from
the stage registry (`pipeline.stages`).

The report's threshold lines, re-thresholding, the run diff and the rule table of docs/stats.md
read this list; the stages themselves apply the same declarations. Rules without a configured
threshold on a stored signal (bad records, MIME type, URL and MinHash dedup, the `top_fraction`
and `pareto` selections) are counted in the stats but not listed here.

`python -m pipeline.inspect.declared` prints the Markdown table that docs/stats.md embeds.
"""

from __future__ import annotations

from typing import Any

from pipeline.rules import Rule, setting_of
from pipeline.stages import declared_rules

DECLARED_RULES: tuple[Rule, ...] = declared_rules()  # each stage's, in stage order (pipeline/stages.py)
BY_REASON: dict[str, Rule] = {rule.reason: rule for rule in DECLARED_RULES}
assert len(BY_REASON) == len(DECLARED_RULES), "two declared rules share a drop reason"


def rule_for(reason: str) -> Rule | None:
    """The declaration behind a drop reason such as "filter.gopher_min_words"."""
    return BY_REASON.get(reason)


def rules_on_signal(stage: str, signal: str) -> list[Rule]:
    """Document-level rules of `stage` that threshold `signal` (gopher_word_count has two)."""
    return [r for r in DECLARED_RULES if r.stage == stage and r.signal == signal and r.line is None]


def setting(rule: Rule, cfg: dict[str, Any]) -> Any:
    """The rule's configured value in a run config (threshold, or the flag rule's switch)."""
    return setting_of(cfg, rule.key)


def rules_markdown() -> str:
    """The table of declared rules, as docs/stats.md shows it."""
    lines = [
        "| drop reason | kind | signal | config key | keep if | source |",
        "|---|---|---|---|---|---|",
    ]
    for r in DECLARED_RULES:
        kind = "line" if r.line else "document"
        keep = "flag false (key switches it on)" if r.keep_if == "==" else f"signal {r.keep_if} value"
        signal = f"`{r.signal}`" if r.signal else (f"`{r.line.lines}`" if r.line else "")
        lines.append(f"| `{r.reason}` | {kind} | {signal} | `{r.key}` | {keep} | {r.source} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(rules_markdown(), end="")
