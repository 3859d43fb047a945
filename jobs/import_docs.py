"""The import stage on Spark: an existing corpus (JSONL[.gz|.zst], Parquet) in, the document table out.

`python -m jobs import --input 'corpus/*.jsonl.gz' --output OUT` writes `OUT/docs/import` like any
stage (kept rows, `OUT/rejected/import` with a counted `drop_reason`, `OUT/stats/import.parquet`,
a fingerprinted `_SUCCESS`), so every later stage reads it as its input: `--input OUT/docs/import`,
or `crawl-to-shards --from import`, which imports and then runs filter … shards on the result.

It scales like extract: the input files become a table of paths, and each task reads whole files
(runs of consecutive small ones), parsing them with `pipeline.io.documents` inside `mapInArrow`.
"""

from __future__ import annotations

from typing import Any

from jobs.extract import crawl_label, files
from jobs.output import StageStep, write_stages

STAGE = "import"


def input_paths(cfg: dict[str, Any], inp: str | list[str] | None) -> list[str]:
    """The corpus files named by files, folders (every JSONL/Parquet file below) or globs, local or on an
    object store (pipeline/io/inputs.py), sorted; a name that matches nothing is a one-line error, not
    an empty run."""
    from pipeline.io.documents import INPUT_SUFFIXES
    from pipeline.io.inputs import expand

    specs = inp if isinstance(inp, list) else [inp] if inp else []
    found: set[str] = set()
    for spec in map(str, specs):
        try:
            found.update(expand(spec, INPUT_SUFFIXES))
        except FileNotFoundError:
            raise SystemExit(f"import: input {spec!r} matches no file") from None
    if not found:
        raise SystemExit(f"import: no .jsonl[.gz|.zst] or .parquet files in {specs}")
    return sorted(found)


def step(cfg: dict[str, Any]) -> StageStep:
    """The import stage as the one step of a pass over a table of file paths (`jobs.extract.files`)."""
    from pipeline.io.documents import IMPORT_RULES, read_documents
    from pipeline.schema import DOC_SCHEMA
    from pipeline.settings import ImportSettings, RunSettings, SparkSettings

    fields = ImportSettings.from_config(cfg)  # a frozen dataclass: travels to the executors as is
    default_crawl = RunSettings.from_config(cfg).name
    batch_rows = SparkSettings.from_config(cfg).arrow_batch_rows

    def import_partition(batches):
        for batch in batches:
            for path in batch.column("path").to_pylist():
                yield from read_documents(path, fields, crawl_label(path, default_crawl), batch_rows)

    return StageStep(STAGE, DOC_SCHEMA, IMPORT_RULES, import_partition)


def run(spark, cfg: dict[str, Any], inp, out: str) -> list[dict]:
    """The stage's Spark job (`pipeline/stages.py` IMPORT): the corpus files in, the document table out."""
    return write_stages(files(spark, input_paths(cfg, inp)), [step(cfg)], out)[STAGE]
