"""The stages of `crawl-to-shards`, each declared once, in order; every consumer reads this table.

A stage is a row of `STAGES`: its name, the module of its Spark job (`run(spark, cfg, inp, out) -> stats
rows`, imported only when the stage is due), the config sections it reads (a change in any of them, or
in the contents of a file one of its path keys names, reruns it: pipeline/fingerprint.py), the check
that runs before Spark starts, its declared rules, and where its output lives. Its input is the output
of the stage before it (the first stage reads WARC files). The chain, fusion, `--until`, fingerprints,
pre-flight, variants, the report and docs/stats.md all read this table.

No Spark import here: runners, checks and rules are named as "module:attribute" and resolved on use.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import layout


@dataclass(frozen=True)
class FileKey:
    """A path-valued config key whose file (or every file under the folder) the stage reads.

    `when_null` names ("module:ATTR") the file used when the key is null, e.g. a shipped model.
    """

    key: str
    when_null: str | None = None


@dataclass(frozen=True)
class StageSpec:
    name: str
    runner: str  # module with `run(spark, cfg, inp, out) -> list[dict]` (the stats rows); jobs.rowwise with `stage`
    reads: tuple[str, ...]  # dotted config sections; `spark` changes how a stage runs, never what it writes
    files: tuple[FileKey, ...] = ()  # path keys among `reads`: their files' contents are fingerprinted too
    preflight: str | None = (
        None  # "module:function(cfg)": a one-line ValueError/FileNotFoundError, before Spark
    )
    preflight_error: str = "config error"  # the first words of that one line
    rules: tuple[str, ...] = ()  # "module:NAME" of its thresholded `pipeline.rules.Rule`s (a tuple or one)
    output: Callable[[str | Path], Path] | None = None  # its output folder; None: layout.docs_dir(out, name)
    # A first stage only: "module:function(cfg, given) -> paths", the files it reads, resolved before Spark
    # starts (a name that matches nothing is a one-line error).
    inputs: str | None = None
    # A row-wise stage: "module:Class", its pure `pipeline.stage.Stage`, built from the config section named
    # first in `reads` and run by the generic runner, `runner="jobs.rowwise"` (no job module of its own).
    stage: str | None = None


# The filter.pii keys extract reads to redact URLs and rejected text (pipeline/filters/pii_outputs.py).
PII_REDACTION_KEYS = ("enabled", "types", "placeholders", "timeout_s")

BLOCKLISTS = tuple(
    FileKey(f"filter.nsfw.{key}")
    for key in (
        "domain_blocklists",
        "url_blocklists",
        "url_banned_words",
        "url_soft_banned_words",
        "url_banned_subwords",
        "ldnoobw_dir",
    )
)

STAGES: tuple[StageSpec, ...] = (
    StageSpec(
        "extract",
        runner="jobs.extract",
        # URL pre-checks read their lists from filter.nsfw; URLs and rejected text are redacted per filter.pii
        reads=("run", "extract", "filter.nsfw", *(f"filter.pii.{key}" for key in PII_REDACTION_KEYS)),
        files=BLOCKLISTS,
        preflight="pipeline.extract.prechecks:build_prechecks",
        inputs="jobs.extract:input_paths",
        rules=("pipeline.extract.langid:LANG_RULE",),
    ),
    StageSpec(
        "filter",
        runner="jobs.rowwise",
        stage="pipeline.filters.stage:FilterStage",
        reads=("filter",),
        files=(*BLOCKLISTS, FileKey("filter.c4.badwords_path")),
        rules=("pipeline.filters.stage:FilterStage.RULES",),
    ),
    StageSpec(
        "quality",
        runner="jobs.quality",
        reads=("run", "quality"),
        files=(
            FileKey("quality.model", when_null="classifiers.quality:DEFAULT_MODEL"),
            FileKey("quality.perplexity.model", when_null="classifiers.ngram_lm:DEFAULT_LM"),
            FileKey("quality.hq_domains_file"),
            FileKey("quality.train.reference_urls"),
            FileKey("quality.train.wikipedia"),
        ),
        preflight="jobs.quality:check_models",
        preflight_error="model error",
        rules=("pipeline.quality.stage:THRESHOLD_RULE", "pipeline.quality.stage:MAX_PERPLEXITY_RULE"),
    ),
    StageSpec(
        "dedup",
        runner="jobs.dedup",
        reads=("dedup",),
        rules=("pipeline.dedup.lines:LINE_DEDUP", "pipeline.dedup.lines:LINE_MIN_WORDS"),
    ),
    StageSpec(
        "decontam",
        runner="jobs.decontam",
        reads=("decontam",),
        files=(FileKey("decontam.eval_sets"),),
        preflight="jobs.decontam:check_eval_sets",
    ),
    StageSpec(
        "shards",
        runner="jobs.shards",
        reads=("run", "mix", "filter.pii.placeholders"),  # placeholders become tokenizer symbols
        files=(
            FileKey("mix.tokenizer.model"),
            FileKey("mix.weights_file"),
            FileKey("mix.domains.classifier_model"),
        ),
        output=layout.shards_dir,
    ),
)

# A first stage that reads an existing corpus instead of a crawl: `crawl-to-shards --from import` runs it in
# place of the chain's first stage (extract), then the rest of the chain on its documents.
IMPORT = StageSpec(
    "import",
    runner="jobs.import_docs",
    reads=("run.name", "import"),  # run.name labels rows whose path names no crawl
    inputs="jobs.import_docs:input_paths",
)
SOURCES: tuple[StageSpec, ...] = (STAGES[0], IMPORT)  # what a chain may start from

NAMES: tuple[str, ...] = tuple(s.name for s in STAGES)
BY_NAME: dict[str, StageSpec] = {s.name: s for s in (IMPORT, *STAGES)}  # a source first, as in a run
FUSED: tuple[str, ...] = ("extract", "filter")  # narrow stages that run as one pass when the first is due


def spec(name: str) -> StageSpec:
    if name not in BY_NAME:
        raise ValueError(f"unknown stage {name!r}; the stages are {', '.join(NAMES)}")
    return BY_NAME[name]


def resolve(ref: str) -> Any:
    """The object a "module:attr.attr" reference names (imported on first use)."""
    module, _, attrs = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for attr in attrs.split("."):
        obj = getattr(obj, attr)
    return obj


def runner(name: str) -> Callable[..., list[dict]]:
    """The Spark job of a stage, imported when first due (the global stages pull in scipy and datasketch,
    ~1.5 s of start-up a narrow run does not need); a row-wise stage's is the generic one, told its name."""
    job = importlib.import_module(spec(name).runner).run
    return functools.partial(job, stage=name) if spec(name).stage else job


def preflight(name: str, cfg: dict[str, Any]) -> None:
    """The stage's checks that need no Spark (a missing list, model or eval set); raises a one-line error."""
    if spec(name).preflight:
        resolve(spec(name).preflight)(cfg)


def previous(name: str) -> str | None:
    """The stage whose documents `name` reads by default; None for a first stage (it reads files)."""
    if name not in NAMES:
        spec(name)  # an unknown name is an error; a source outside the chain reads files
        return None
    index = NAMES.index(name)
    return NAMES[index - 1] if index else None


def input_files(name: str, cfg: dict[str, Any], given) -> list[str]:
    """The files a first stage reads (WARC files for extract, corpus files for import)."""
    return resolve(spec(name).inputs)(cfg, given)


def default_input(out: str | Path, name: str) -> str | None:
    """What a stage reads when no `--input` is given: the kept documents of the stage before it."""
    before = previous(name)
    return str(layout.docs_dir(out, before)) if before else None


def output_dir(out: str | Path, name: str) -> Path:
    """The folder whose `_SUCCESS` marks the stage complete (and records its fingerprint). A stage
    outside the chain (one a test builds, or a step that imports documents) writes documents too."""
    made = BY_NAME[name].output if name in BY_NAME else None
    return made(out) if made else layout.docs_dir(out, name)


def chain(until: str | None = None, start: str | None = None) -> tuple[str, ...]:
    """The stages of `crawl-to-shards`, up to and including `until`; `start` (a source, e.g. import)
    replaces the first stage."""
    names = NAMES[: NAMES.index(spec(until).name) + 1] if until else NAMES
    if start and start != NAMES[0]:
        if spec(start) not in SOURCES:
            raise ValueError(f"a chain starts from {', '.join(s.name for s in SOURCES)}, not {start!r}")
        names = (start, *names[1:])
    return names


def declared_rules() -> tuple:
    """Every stage's declared rules, in stage order (pipeline/inspect/declared.py)."""
    found: list = []
    for stage in STAGES:
        for ref in stage.rules:
            obj = resolve(ref)
            found += list(obj) if isinstance(obj, tuple | list) else [obj]
    return tuple(found)
