"""The output layout of a run (DESIGN.md section 5), in one place: every path under OUT is spelled here.

OUT may be a local path or an object-store URI; each function returns what `storage.path` gives for it
(a `pathlib.Path`, or an `ObjectPath` with the same method names)."""

from __future__ import annotations

import re

from pipeline import storage
from pipeline.storage import Location, Where

# The stages themselves (names, order, which folder each one's output is) are declared in pipeline/stages.py.
SUCCESS = "_SUCCESS"


# --- documents and stats of a stage ----------------------------------------------------------------
def docs_dir(out: Where, stage: str) -> Location:
    return storage.path(out) / "docs" / stage


def rejected_dir(out: Where, stage: str) -> Location:
    return storage.path(out) / "rejected" / stage


def stats_path(out: Where, stage: str) -> Location:
    return storage.path(out) / "stats" / f"{stage}.parquet"


def stage_table_path(out: Where, stage: str, table: str) -> Location:
    """A stage's extra stats table, e.g. `OUT/stats/filter_breakdown.parquet`."""
    return storage.path(out) / "stats" / f"{stage}_{table}.parquet"


def decontam_items_path(out: Where) -> Location:
    """The contamination report: one row per benchmark item found in the crawl."""
    return stage_table_path(out, "decontam", "items")


def decontam_sets_path(out: Where) -> Location:
    """The contamination report per eval set: the fraction of its items found in the crawl."""
    return stage_table_path(out, "decontam", "sets")


def config_path(out: Where) -> Location:
    """The resolved config the run was made with (reports and re-thresholding read its thresholds)."""
    return storage.path(out) / "config.yaml"


def save_run_config(cfg: dict, out: Where) -> None:
    import yaml

    config_path(out).parent.mkdir(parents=True, exist_ok=True)
    config_path(out).write_text(yaml.safe_dump(cfg, sort_keys=False))


def report_path(out: Where) -> Location:
    return storage.path(out) / "report.html"


def lock_path(out: Where) -> Location:
    """The run lock: held (flock) by the one process writing OUT, or shared by the trainings reading its
    shards; names its holder (pipeline/runlock.py)."""
    return storage.path(out) / "_run.lock"


def lock_readers_path(out: Where) -> Location:
    """Object stores only: one lease object per training reading OUT's shards (pipeline/runlock.py),
    where a local run shares the flock of `lock_path` instead."""
    return storage.path(out) / "_run.readers"


def folder_lock_path(folder: Where) -> Location:
    """The lock of one output folder inside OUT (a training's OUT/train), held by its one writer."""
    return storage.path(folder) / "_writer.lock"


def work_root(out: Where) -> Location:
    """Where every stage's attempts keep their scratch (removed after a failure that filled the disk)."""
    return storage.path(out) / "_work"


def work_dir(out: Where, stage: str) -> Location:
    """Scratch space of an attempt; never read as output."""
    return work_root(out) / stage


def stage_dir(out: Where, stage: str) -> Location:
    """The folder whose `_SUCCESS` marks `stage` complete (and records its fingerprint)."""
    from pipeline.stages import output_dir  # the registry imports this module

    return output_dir(out, stage)


def success_path(out: Where, stage: str) -> Location:
    return stage_dir(out, stage) / SUCCESS


def stage_done(out: Where, stage: str) -> bool:
    """A stage is complete only once its marker exists; the marker is written last."""
    return success_path(out, stage).exists()


# --- the quality model ----------------------------------------------------------------------------
def quality_model_record(out: Where) -> Location:
    """Which model scored the run (path, sha256, cut-offs); the shard manifest copies it."""
    return storage.path(out) / "quality_model.json"


def quality_model_file(out: Where) -> Location:
    """The model trained inside the run, when `quality.train.reference_urls` is set."""
    return storage.path(out) / "quality_model.ftz"


# --- shards ---------------------------------------------------------------------------------------
def shards_dir(out: Where) -> Location:
    return storage.path(out) / "shards"


def shard_prefix(split: str, domain: str, number: int) -> str:
    """A shard's path inside the shards directory, without `.bin`/`.idx` (the manifest lists it)."""
    return f"{split}/{domain}/{domain}_{number:05d}"


def manifest_path(shards: Where) -> Location:
    """`manifest.json` of a shards directory (paths inside it are relative to that directory)."""
    return storage.path(shards) / "manifest.json"


# --- training -------------------------------------------------------------------------------------
def train_dir(out: Where) -> Location:
    """Checkpoints and metrics of `make train` (a proxy run has its own, `proxy_train_dir`)."""
    return storage.path(out) / "train"


def metrics_path(train: Where) -> Location:
    """One JSON line per logged step, of every run name trained in that train directory."""
    return storage.path(train) / "metrics.jsonl"


def run_dir(train: Where, run_name: str) -> Location:
    """One training run's folder in a train directory: its checkpoints (and, under Ray, Ray's run state)."""
    return storage.path(train) / run_name


def step_checkpoint_dir(train: Where, run_name: str, step: int) -> Location:
    """A checkpoint of a run trained without Ray (trainer/local.py); Ray names its own by time."""
    return run_dir(train, run_name) / f"checkpoint_{step:06d}"


def pre_decay_dir(train: Where, run_name: str) -> Location:
    """Run `run_name`'s checkpoint from right before the decay (one slot per run); anneal branches start
    from it."""
    return storage.path(train) / "pre_decay" / run_name


# --- data ablations (`python -m trainer ablate|ablate-variants`) ------------------------------------
def ablate_dir(out: Where) -> Location:
    """Everything an ablation writes; its models train in `train_dir(ablate_dir(out))`."""
    return storage.path(out) / "ablate"


def ablate_plan_path(out: Where) -> Location:
    return ablate_dir(out) / "plan.json"


def ablate_models_dir(out: Where) -> Location:
    return ablate_dir(out) / "models"


def ablate_model_path(out: Where, run_name: str) -> Location:
    """One trained and evaluated model's result (its presence marks it done: a rerun skips it)."""
    return ablate_models_dir(out) / f"{run_name}.json"


def ablate_results_path(out: Where, suffix: str) -> Location:
    """The results table: `.parquet` (one row per model and eval set) or `.md` (the summary)."""
    return (ablate_dir(out) / "results").with_suffix(suffix)


def ablate_curves_path(out: Where) -> Location:
    return ablate_dir(out) / "curves.png"


def variant_dir(out: Where, key: str, value: str) -> Location:
    """The crawl-to-shards run of one value of the varied config key (`ablate-variants`)."""
    return storage.path(out) / "variants" / f"{key}={value}"


# --- fitting the mixture (`python -m trainer fit-mixture`) ----------------------------------------
def mixing_dir(out: Where) -> Location:
    return storage.path(out) / "mixing"


def proposals_path(out: Where) -> Location:
    return mixing_dir(out) / "proposals.json"


def proxy_train_dir(out: Where) -> Location:
    return mixing_dir(out) / "proxies" / "train"


def proxy_results_path(out: Where) -> Location:
    return mixing_dir(out) / "proxy_results.json"


def fitted_weights_path(out: Where) -> Location:
    return mixing_dir(out) / "weights.json"


# A name from config or data that becomes one path component (a mixing domain, a split): letters,
# digits, '_', '-' and '.', not starting with '.' (so never '..' or a hidden file), at most 100 long.
SAFE_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,99}")


def path_component(name: object, what: str) -> str:
    """`name` if it is safe as one file/folder name under OUT; else a one-line ValueError naming `what`."""
    if not isinstance(name, str) or not SAFE_NAME.fullmatch(name):
        raise ValueError(
            f"{what}: {name!r} cannot be used as a file name under the run folder "
            "(letters, digits, '_', '-', '.'; not starting with '.'; at most 100 characters)"
        )
    return name
