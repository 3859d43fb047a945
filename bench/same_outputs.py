"""Whether two runs of the same input kept and rejected the same documents with the same contents.

    .venv/bin/python -m bench.same_outputs OUT_A OUT_B [--stages extract filter]

For each stage, its kept (`docs/<stage>`) and rejected (`rejected/<stage>`) Parquet tables are read
whole, sorted by doc_id and compared column by column, every column but the ones that time the run
(`TIMING`: wall time differs between any two runs). Prints one line per table; exit 1 on a difference.
A speed-up of the extract or filter path is checked with it against the output of the code before it.
"""

from __future__ import annotations

import argparse
import sys

import pyarrow.dataset as ds

from pipeline import layout

TIMING = ("extract_ms",)  # wall milliseconds of one page: never the same twice


def differences(a: str, b: str, stages: list[str]) -> list[str]:
    problems = []
    for stage in stages:
        for kind, folder in (("kept", layout.docs_dir), ("rejected", layout.rejected_dir)):
            left, right = (_table(folder(out, stage)) for out in (a, b))
            label = f"{stage} {kind}"
            if left.schema != right.schema:
                problems.append(f"{label}: schemas differ")
                continue
            if left.num_rows != right.num_rows:
                problems.append(f"{label}: {left.num_rows} rows against {right.num_rows}")
                continue
            changed = [name for name in left.column_names if not left[name].equals(right[name])]
            if changed:
                problems.append(f"{label}: columns differ: {', '.join(changed)}")
            else:
                print(f"{label}: {left.num_rows} rows, {left.num_columns} columns identical")
    return problems


def _table(folder):
    table = ds.dataset(str(folder), format="parquet").to_table()
    table = table.drop_columns([c for c in TIMING if c in table.column_names])
    return table.sort_by("doc_id")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("a")
    parser.add_argument("b")
    parser.add_argument("--stages", nargs="+", default=["extract", "filter"])
    args = parser.parse_args()
    problems = differences(args.a, args.b, args.stages)
    for problem in problems:
        print(problem)
    return int(bool(problems))


if __name__ == "__main__":
    sys.exit(main())
