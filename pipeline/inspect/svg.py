"""The report's charts as inline SVG: bars and histograms drawn as a few rectangles.

Written by hand because a chart is all the report needs: a run's report used to render its ~50 charts
with matplotlib, and that took ~15 s of CPU, more than the extract and filter stages of a small
crawl. An SVG string costs microseconds, scales in the browser and keeps the page
self-contained (no server, no network, no font files). Inline SVG in HTML needs no namespace.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

KEPT, DROPPED, NEUTRAL = "#4477aa", "#cc6677", "#4477aa"  # colour-blind-safe (Paul Tol's palettes)
PAD_LEFT, PAD_BOTTOM, PAD_TOP = 46, 18, 30  # room for the value axis, the range labels and the title


def _num(value: float) -> str:
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value):,}"
    return f"{value:.4g}"


def _open(width: int, height: int, title: str) -> list[str]:
    return [
        f'<svg width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="10">',
        f'<text x="{width / 2:.0f}" y="12" text-anchor="middle" font-size="11">{html.escape(title)}</text>',
    ]


def vertical_bars(labels: Sequence[str], values: Sequence[float], title: str, width: int = 560) -> str:
    """One bar per label, labels under the bars, the largest value on the axis."""
    height = 220
    plot_w, plot_h = width - PAD_LEFT - 8, height - PAD_TOP - PAD_BOTTOM
    top = max(values, default=0) or 1
    step = plot_w / max(1, len(values))
    parts = _open(width, height, title)
    parts.append(f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">{_num(top)}</text>')
    for i, (label, value) in enumerate(zip(labels, values)):
        h = plot_h * value / top
        x, y = PAD_LEFT + i * step + step * 0.1, PAD_TOP + plot_h - h
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{y:.1f}" width="{step * 0.8:.1f}" height="{h:.1f}" '
            f'fill="{NEUTRAL}"><title>{html.escape(label)}: {_num(value)}</title></rect>'
        )
        parts.append(
            f'<text x="{x + step * 0.4:.1f}" y="{height - 4}" text-anchor="middle">{html.escape(label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def horizontal_bars(labels: Sequence[str], values: Sequence[float], title: str, width: int = 560) -> str:
    """One row per label (first label on top), the label left of its bar, the value right of it."""
    row, label_w = 16, 260
    height = PAD_TOP + row * len(values) + 6
    top = max(values, default=0) or 1
    bar_w = width - label_w - 70  # room for the value after the longest bar
    parts = _open(width, height, title)
    for i, (label, value) in enumerate(zip(labels, values)):
        y = PAD_TOP + i * row
        w = bar_w * value / top
        parts.append(f'<text x="{label_w - 4}" y="{y + 11}" text-anchor="end">{html.escape(label)}</text>')
        parts.append(
            f'<rect class="bar" x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row - 4}" fill="{DROPPED}"/>'
        )
        parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + 11}">{_num(value)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    bins: dict[str, Sequence[tuple[float, float, int]]],
    thresholds: Sequence[float],
    title: str,
    width: int = 300,
    height: int = 190,
) -> str:
    """Overlaid histograms, one per outcome ("kept", "dropped": (lo, hi, docs) rows), on one value
    axis, with a dashed line at each threshold inside the range."""
    rows = [r for outcome in bins.values() for r in outcome]
    if not rows:
        return ""
    lo = min(r[0] for r in rows)
    hi = max(r[1] for r in rows)
    span = (hi - lo) or 1.0
    top = max(r[2] for r in rows) or 1
    plot_w, plot_h = width - PAD_LEFT - 8, height - PAD_TOP - PAD_BOTTOM

    def x_of(value: float) -> float:
        return PAD_LEFT + plot_w * (value - lo) / span

    parts = _open(width, height, title)
    parts.append(f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end">{_num(top)}</text>')
    parts.append(f'<text x="{PAD_LEFT}" y="{height - 4}">{_num(lo)}</text>')
    parts.append(f'<text x="{width - 8}" y="{height - 4}" text-anchor="end">{_num(hi)}</text>')
    for outcome, color in (("kept", KEPT), ("dropped", DROPPED)):
        for b_lo, b_hi, docs in bins.get(outcome, ()):
            if docs <= 0:
                continue
            h = plot_h * docs / top
            parts.append(
                f'<rect class="{outcome}" x="{x_of(b_lo):.1f}" y="{PAD_TOP + plot_h - h:.1f}" '
                f'width="{max(0.5, x_of(b_hi) - x_of(b_lo)):.1f}" height="{h:.1f}" fill="{color}" '
                f'fill-opacity="0.7"><title>{outcome} [{_num(b_lo)}, {_num(b_hi)}): {docs}</title></rect>'
            )
    for value in thresholds:
        if lo <= value <= hi:
            x = x_of(value)
            parts.append(
                f'<line class="threshold" x1="{x:.1f}" y1="{PAD_TOP}" x2="{x:.1f}" y2="{PAD_TOP + plot_h}" '
                'stroke="black" stroke-dasharray="4 3"/>'
            )
    parts.append(
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{width - 8}" y2="{PAD_TOP + plot_h}" stroke="#888"/>'
    )
    parts.append(f'<text x="{width - 56}" y="{PAD_TOP - 4}" text-anchor="end" fill="{KEPT}">kept</text>')
    parts.append(
        f'<text x="{width - 8}" y="{PAD_TOP - 4}" text-anchor="end" fill="{DROPPED}">dropped</text></svg>'
    )
    return "".join(parts)
