"""`OUT/report.html`: one self-contained page showing what every rule of a run did and why.

Sections: the funnel (documents and words left after each stage), word-weighted drops per rule,
benchmark contamination (the share of each eval set found in the crawl, and the items found), each
signal's histogram (kept vs dropped) with its threshold line, and a few sampled rejected
documents per rule with their snippet and signal values. Samples show no raw PII: their snippet and URL
go through the PII detectors again here, whatever the run's `filter.pii` says (a run written before
rejected rows were redacted, or with the PII stage off, is still safe to share). Charts are inline SVG
(`pipeline.inspect.svg`), so the file opens anywhere with no server and no network.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

from pipeline import layout, storage
from pipeline.filters.pii import DEFAULT_PLACEHOLDERS, TYPES, PiiSettings, find_pii, redact
from pipeline.filters.pii_outputs import redact_url
from pipeline.inspect import runstats, svg
from pipeline.inspect.declared import rules_on_signal

SAMPLES_PER_RULE = 3
ITEMS_SHOWN = 50  # contaminated benchmark items listed in the report (the Parquet table has all)
SNIPPET_CHARS = 400


def _num(value) -> str:
    return "-" if pd.isna(value) else str(int(value))


def funnel_table_text(funnel: pd.DataFrame) -> str:
    """The funnel as a fixed-width table for the terminal."""
    if not len(funnel):
        return "(no stage has finished in this run)"
    header = f"{'stage':<10}{'docs in':>10}{'kept':>10}{'kept %':>8}{'words in':>12}{'words kept':>12}"
    lines = [header, "-" * len(header)]
    for r in funnel.itertuples():
        lines.append(
            f"{r.stage:<10}{r.docs_in:>10}{r.docs_kept:>10}{r.docs_kept_pct:>8}"
            f"{_num(r.words_in):>12}{_num(r.words_kept):>12}"
        )
    return "\n".join(lines)


def _funnel_section(funnel: pd.DataFrame) -> str:
    if not len(funnel):
        return "<p>No stage has finished yet.</p>"
    chart = svg.vertical_bars(
        list(funnel["stage"]), list(funnel["docs_kept"]), "Documents remaining after each stage"
    )
    return chart + funnel.to_html(index=False, classes="tbl")


def _drops_section(drops: pd.DataFrame) -> str:
    if not len(drops):
        return "<p>No documents were dropped.</p>"
    labels = list(drops["stage"] + ": " + drops["rule"])
    chart = svg.horizontal_bars(labels, list(drops["words"]), "Words dropped per rule")
    return chart + drops.to_html(index=False, classes="tbl")


def _contamination_section(out: str | Path) -> str:
    sets = runstats.contamination(out)
    if not len(sets):
        return "<p>The decontam stage has not run (or had no eval sets).</p>"
    shown = sets.assign(fraction_found=(100 * sets["fraction_found"]).round(2)).rename(
        columns={"fraction_found": "% found"}
    )
    items = runstats.contaminated_items(out)
    listed = items.sort_values(["docs_matched", "eval_set", "item"], ascending=[False, True, True]).head(
        ITEMS_SHOWN
    )
    return (
        "<p>Benchmark items that share an n-gram with a document that reached the decontam stage.</p>"
        + shown.to_html(index=False, classes="tbl")
        + (
            f"<h3>Items found ({len(items)}; first {len(listed)})</h3>"
            + listed.to_html(index=False, classes="tbl")
            if len(items)
            else ""
        )
    )


def _histogram_section(out: str | Path, stage: str, cfg: dict) -> str:
    hist = runstats.histograms(out, stage)
    if not len(hist):
        return ""
    parts = [f"<h3>{html.escape(stage)}</h3><div class='grid'>"]
    for signal, rows in hist.groupby("signal", sort=True):
        bins = {
            outcome: list(rows.loc[rows["outcome"] == outcome, ["lo", "hi", "docs"]].itertuples(index=False))
            for outcome in ("kept", "dropped")
        }
        limits = [(r, r.limit_of(cfg)) for r in rules_on_signal(stage, signal)]
        limits = [(r, v) for r, v in limits if r.keep_if != "==" and v is not None]
        keep = ", ".join(f"keep {r.keep_if} {v:g}" for r, v in limits)
        title = f"{signal} ({keep})" if keep else signal
        parts.append(svg.histogram(bins, [float(v) for _, v in limits], title))
    parts.append("</div>")
    return "".join(parts)


def redacted_snippet(text: str | None, placeholders: dict[str, str]) -> str:
    """The first SNIPPET_CHARS characters, every PII type replaced; an item the cut would halve is left out."""
    window = (text or "")[: 2 * SNIPPET_CHARS]
    spans = find_pii(window, TYPES)
    cut = min([SNIPPET_CHARS, *(s.start for s in spans if s.start < SNIPPET_CHARS < s.end)])
    return redact(window[:cut], [s for s in spans if s.end <= cut], placeholders)


def _samples_section(out: str | Path, stage: str, seed: int, cfg: dict) -> str:
    rejected = runstats.rejected_docs(out, stage)
    if not len(rejected):
        return ""
    parts = [f"<h3>{html.escape(stage)}</h3>"]
    placeholders = {**DEFAULT_PLACEHOLDERS, **PiiSettings.from_config(cfg).placeholders}
    numeric = [
        c
        for c in rejected.columns
        if pd.api.types.is_numeric_dtype(rejected[c])
        and c not in ("warc_offset", "lang_score", "quality_score", "http_status")
    ]
    for reason, rows in rejected.groupby("drop_reason", sort=True):
        sample = rows.sample(n=min(SAMPLES_PER_RULE, len(rows)), random_state=seed)
        parts.append(f"<h4>{html.escape(str(reason))} <small>({len(rows)} documents)</small></h4>")
        for doc in sample.itertuples(index=False):
            d = doc._asdict()
            snippet = redacted_snippet(d.get("text"), placeholders)
            url = redact_url(d.get("url"), TYPES, placeholders)
            signals = ", ".join(f"{c}={d[c]:.3g}" for c in numeric if pd.notna(d.get(c)))
            parts.append(
                f"<div class='doc'><div class='url'>{html.escape(str(url))}</div>"
                f"<pre>{html.escape(snippet) or '(no text)'}</pre><div class='sig'>{html.escape(signals)}</div></div>"
            )
    return "".join(parts)


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
.tbl{border-collapse:collapse;font-size:13px;margin:8px 0}.tbl td,.tbl th{border:1px solid #ccc;padding:2px 6px}
.grid{display:flex;flex-wrap:wrap;gap:6px}.doc{border:1px solid #ddd;margin:6px 0;padding:6px}
.url{font-size:12px;color:#555}pre{white-space:pre-wrap;font-size:12px;margin:4px 0}.sig{font-size:11px;color:#336}
"""


def build_report(out: str | Path, seed: int = 0) -> Path:
    out = storage.path(out)
    stages = runstats.stages_present(out)
    cfg = runstats.run_config(out)
    body = [
        f"<h1>Run report: {html.escape(str(out))}</h1>",
        "<h2>Funnel</h2>",
        _funnel_section(runstats.funnel(out)),
        "<h2>Drops per rule</h2>",
        _drops_section(runstats.rule_drops(out)),
        "<h2>Benchmark contamination</h2>",
        _contamination_section(out),
        "<h2>Signals</h2><p>Histograms of the stored signal values; the dashed line is the configured threshold.</p>",
        *[_histogram_section(out, s, cfg) for s in stages],
        "<h2>Sampled rejected documents</h2>",
        *[_samples_section(out, s, seed, cfg) for s in stages],
    ]
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>webdata report</title><style>{STYLE}</style>"
        f"</head><body>{''.join(body)}</body></html>"
    )
    path = layout.report_path(out)
    path.write_text(page, encoding="utf-8")
    return path
