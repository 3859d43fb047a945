"""The two per-stage tables of bench/e2e_vs_datatrove.py, built from its summary (medians per side and
stage) and its fixed costs (each side once on a 10-page input)."""

from __future__ import annotations

STAGES = ("extract", "filter", "dedup")  # the stages compared, in pipeline order

SIDE_LABELS = {"spark": "ours spark", "pure": "ours pure", "datatrove": "datatrove"}


def marginal_table(summary: dict, fixed: dict, command: str) -> dict:
    """Fixed cost (10-page input) and the CPU per document beyond it, per side and stage."""
    columns = ["stage"]
    for i, side in enumerate(summary):  # the first side's columns carry the units
        columns += (
            [f"{side} fixed CPU s", f"{side} ms/doc beyond"]
            if i == 0
            else [f"{side} fixed", f"{side} ms/doc"]
        )
    rows = []
    for stage in STAGES:
        cells = [stage]
        for side, s in summary.items():
            st, fx = s["stages"].get(stage), fixed.get(side, {}).get(stage)
            if st is None or fx is None:
                cells += ["–", "–"]
                continue
            extra = st["cpu_s"] - fx["cpu_s"]
            cells += [f"{fx['cpu_s']:.1f}", f"{1e3 * extra / max(1, st['docs_in'] - fx['docs_in']):.1f}"]
        rows.append(cells)
    return {
        "title": "Fixed cost (10-page input) and CPU per document beyond it",
        "command": command,
        "columns": columns,
        "rows": rows,
    }


def beyond_fixed_ratios(summary: dict, fixed: dict) -> dict[str, float]:
    """Each side's speed-up over datatrove in CPU time beyond the fixed costs."""
    extra: dict[str, float] = {}
    for stage in STAGES:
        for side, s in summary.items():
            st, fx = s["stages"].get(stage), fixed.get(side, {}).get(stage)
            if st is not None and fx is not None:
                extra[side] = extra.get(side, 0.0) + st["cpu_s"] - fx["cpu_s"]
    if "datatrove" not in extra:
        return {}
    return {side: extra["datatrove"] / e for side, e in extra.items() if side != "datatrove"}


def stage_table(summary: dict, n_docs: int, rounds: int, command: str) -> dict:
    """Docs in -> kept, CPU s and docs/s/core per side and stage; a side that counts the same documents
    as the side before it shows only its CPU columns."""
    sides = list(summary)

    def counts(side: str) -> list:
        return [(st["docs_in"], st["kept"]) for st in summary[side]["stages"].values()]

    with_docs = {side: i == 0 or counts(side) != counts(sides[i - 1]) for i, side in enumerate(sides)}
    columns = ["stage"]
    for side in sides:
        label = SIDE_LABELS.get(side, side)
        columns += [f"{label}: docs in → kept", "CPU s"] if with_docs[side] else [f"{label}: CPU s"]
        columns.append("docs/s/core")
    rows = []
    for stage in STAGES:
        cells = [stage]
        for side in sides:
            st = summary[side]["stages"].get(stage)
            docs = [f"{st['docs_in']} → {st['kept']}"] if st and with_docs[side] else []
            cells += (
                ["–"] * (2 + with_docs[side])
                if st is None
                else [*docs, f"{st['cpu_s']:.1f}", f"{st['docs_per_cpu_s']:.1f}"]
            )
        rows.append(cells)
    cells = [f"**overall** ({n_docs} records in)"]
    for side in sides:
        s = summary[side]
        kept = [f"→ {list(s['stages'].values())[-1]['kept']}"] if with_docs[side] else []
        cells += [*kept, f"{s['total_cpu_s']:.1f}", f"{s['docs_per_cpu_s']:.1f}"]
    rows.append(cells)
    return {
        "title": f"Per stage, CPU time, medians of {rounds} rounds ({n_docs:,} records)",
        "command": command,
        "columns": columns,
        "rows": rows,
    }
