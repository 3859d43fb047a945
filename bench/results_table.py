"""The one format every benchmark writes its figures in, and the renderer that puts them into
BENCHMARKS.md (`make bench-tables`; `make bench` runs it after the benchmarks).

A result file `bench/results/<name>.json` is

    {"tables": [{"title": "...", "command": "python -m bench.x --flag",
                 "columns": ["side", "CPU s", ...], "rows": [["ours", 1.2, ...], ...],
                 "notes": "optional sentence under the table"}],
     "figures": {...}}  # optional: the raw measurements the tables are made from


and its tables go into BENCHMARKS.md between the markers `<!-- results:<name> -->` and
`<!-- /results:<name> -->`, or one table at a time between `<!-- results:<name>:<i> -->` and
`<!-- /results:<name>:<i> -->` (i = 1, 2, ...: prose may stand between the tables of one result); a
result with no markers yet gets them appended at the end of the file.
Everything between the markers is regenerated, so no figure there is edited by hand. A result file
in another shape (older benchmarks write their own JSON) is skipped with a one-line note naming it.

    python -m bench.results_table [--check]     # --check: exit 1 when BENCHMARKS.md is stale
                                                # or holds a table outside the markers
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

from bench.common.env import REPO, RESULTS

BENCHMARKS = REPO / "BENCHMARKS.md"


def write_result(name: str, tables: list[dict], figures: dict | None = None) -> Path:
    """Write `bench/results/<name>.json` (each table: title, command, columns, rows[, notes]; `figures`:
    the raw measurements, kept beside the tables for whoever wants more than the tables show)."""
    problem = _format_problem({"tables": tables})
    if problem:
        raise ValueError(f"{name}: {problem}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = {"tables": tables, **({"figures": figures} if figures else {})}
    path.write_text(json.dumps(data, indent=1) + "\n")
    return path


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value).replace("|", "\\|")


def render(tables: list[dict]) -> str:
    parts = []
    for table in tables:
        lines = [f"**{table['title']}**", "", "| " + " | ".join(table["columns"]) + " |"]
        lines.append("|" + "---|" * len(table["columns"]))
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in table["rows"]]
        if table.get("notes"):
            lines += ["", table["notes"]]
        lines += ["", f"`{table['command']}`"]
        parts.append("\n".join(lines))
    return "\n\n".join(parts)


def regenerate(text: str, results: dict[str, list[dict]]) -> str:
    for name, tables in sorted(results.items()):
        found = False
        parts = [(name, tables)] + [(f"{name}:{i}", [table]) for i, table in enumerate(tables, 1)]
        for key, shown in parts:
            start, end = f"<!-- results:{key} -->", f"<!-- /results:{key} -->"
            block = f"{start}\n{render(shown)}\n{end}"
            pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
            if pattern.search(text):
                text, found = pattern.sub(lambda _, block=block: block, text), True
        if not found:
            start, end = f"<!-- results:{name} -->", f"<!-- /results:{name} -->"
            text = text.rstrip("\n") + f"\n\n{start}\n{render(tables)}\n{end}\n"
    return text


def hand_typed_tables(text: str) -> list[int]:
    """Line numbers where a Markdown table starts outside every results marker: a table typed by hand."""
    starts, depth, in_table = [], 0, False
    for number, line in enumerate(text.split("\n"), 1):
        if line.startswith("<!-- results:"):
            depth += 1
        elif line.startswith("<!-- /results:"):
            depth -= 1
        is_row = depth == 0 and line.lstrip().startswith("|")
        if is_row and not in_table:
            starts.append(number)
        in_table = is_row
    return starts


def load_results(folder: Path = RESULTS) -> tuple[dict[str, list[dict]], list[str]]:
    """The tables of every result file in the tables format, and one note per file skipped."""
    results, skipped = {}, []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            skipped.append(f"{path.name}: unreadable ({exc})")
            continue
        problem = _format_problem(data)
        if problem:
            skipped.append(f"{path.name}: {problem}, not rendered")
        else:
            results[path.stem] = data["tables"]
    return results, skipped


def _format_problem(data) -> str | None:
    """Why `data` is not a {"tables": [...]} result, or None when it is one."""
    if not isinstance(data, dict) or not isinstance(data.get("tables"), list):
        return 'not in the {"tables": [...]} format'
    for table in data["tables"]:
        if not isinstance(table, dict) or {"title", "command", "columns", "rows"} - set(table):
            return "a table lacks title/command/columns/rows"
        if any(len(row) != len(table["columns"]) for row in table["rows"]):
            return f"table {table['title']!r} has a row of the wrong width"
    return None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if BENCHMARKS.md is not up to date")
    args = parser.parse_args()
    results, skipped = load_results()
    for note in skipped:
        print(f"skipped {note}")
    before = BENCHMARKS.read_text()
    after = regenerate(before, results)
    if args.check:
        typed = hand_typed_tables(after)
        for line in typed:
            print(f"BENCHMARKS.md:{line}: a table typed by hand; write it from a result file instead")
        print(
            "BENCHMARKS.md is up to date"
            if after == before
            else "BENCHMARKS.md is stale: run make bench-tables"
        )
        return int(after != before or bool(typed))
    BENCHMARKS.write_text(after)
    print(f"BENCHMARKS.md: {len(results)} result files rendered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
