"""Typed, read-only views of the run configuration: one frozen dataclass per `configs/default.yaml` section.

Each class mirrors its section field for field (`PATH` names it). What a key means, its unit and its
source is its comment in default.yaml, written once there and not repeated here. The YAML is also the
only home of the defaults: `from_section(d)` takes every field from the section dict `d` of a loaded
config (`pipeline.config.load_config` merges the defaults underneath), and a key a library caller
leaves out of a partial dict is read from default.yaml, never from a Python literal; a key in neither
is a `ConfigError` naming it. Keys the dict holds beyond the fields (values a job adds at run time,
e.g. quality's `model_path`) are not the settings' business and are ignored.

Each numeric field declares the values it accepts where it is declared (`fraction()`, `count()`,
`positive()`, `non_negative()`, `within(low, high)`; helpers in `pipeline/config.py`); loading a
config checks every value against it and refuses NaN and infinity.

A row-wise stage declares its section on its class (`Settings`), and the filter families theirs next
to their rules (`pipeline/filters/`), so a rule and its threshold field live in one module;
`SECTIONS` below collects them.

A value several stages use has one owner section, and the others read it there: the URL pre-checks
of `extract` read `filter.nsfw`, the tokenizer of `shards` reads `filter.pii.placeholders`, the
trainer reads `mix.e_max` through the shards' manifest. `tests/test_settings.py` walks default.yaml
and these classes to prove each key has exactly one field and each field a key.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pipeline.config import ConfigError, _defaults, count, fraction, non_negative, positive, section, within

Frozen = Mapping[str, Any]  # a mapping value (read-only view)


@dataclass(frozen=True)
class Section:
    PATH: ClassVar[str] = ""  # the dotted section in configs/default.yaml

    @classmethod
    def from_section(cls, given: Mapping[str, Any] | None) -> Self:
        given = given or {}
        defaults = section(_defaults(), cls.PATH)
        values = {}
        for field, kind in _field_types(cls).items():
            if isinstance(kind, type) and issubclass(kind, Section):
                values[field] = kind.from_section(given.get(field))
            elif field in given:
                values[field] = _frozen(given[field], kind)
            elif field in defaults:
                values[field] = _frozen(defaults[field], kind)
            else:
                raise ConfigError(
                    f"{cls.PATH}.{field}: missing from the config and from configs/default.yaml"
                )
        return cls(**values)

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any] | None) -> Self:
        """The section at `PATH` of a whole (possibly partial) run config."""
        node: Any = cfg or {}
        for part in cls.PATH.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        return cls.from_section(node)


@functools.cache
def _field_types(cls: type[Section]) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {field.name: hints[field.name] for field in dataclasses.fields(cls)}


def leaf_fields(cls: type[Section]) -> Iterator[tuple[str, dataclasses.Field, type | None]]:
    """(dotted key, field, scalar type) of every leaf field of a section, nested sections walked; the
    scalar type of a list is its items' type, of an optional value the value's, of a mapping None."""
    for field in dataclasses.fields(cls):
        kind = _field_types(cls)[field.name]
        if isinstance(kind, type) and issubclass(kind, Section):
            yield from leaf_fields(kind)
            continue
        args = [arg for arg in typing.get_args(kind) if arg is not type(None) and arg is not Ellipsis]
        if typing.get_origin(kind) is tuple or (args and len(args) == 1):
            kind = args[0]  # tuple[float, ...] -> float; float | None -> float
        yield f"{cls.PATH}.{field.name}", field, kind if kind in (int, float, str, bool) else None


def _frozen(value: Any, kind: Any) -> Any:
    """Lists become tuples and mappings read-only views; an int given for a float field becomes a float."""
    if isinstance(value, list):
        return tuple(_frozen(item, Any) for item in value)
    if isinstance(value, dict):
        return types.MappingProxyType({key: _frozen(item, Any) for key, item in value.items()})
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


@dataclass(frozen=True)
class RunSettings(Section):
    PATH = "run"
    name: str
    seed: int = within(0, 2**32 - 1)


@dataclass(frozen=True)
class ImportSettings(Section):
    """Which field of an imported record holds what (`python -m jobs import`); dotted names reach into
    nested objects."""

    PATH = "import"
    text_field: str
    url_field: str
    id_field: str
    date_field: str


@dataclass(frozen=True)
class SparkSettings(Section):
    PATH = "spark"
    master: str
    shuffle_partitions: int | None = count()
    shuffle_input_mb: int = count()
    max_shuffle_partitions: int = count()
    driver_memory: str | None
    driver_memory_fraction: float = within(0, 1, low_open=True)
    driver_memory_max_gb: int = count()
    arrow_batch_rows: int = count()
    local_java_options: str | None


@dataclass(frozen=True)
class QualityFirstSettings(Section):
    PATH = "extract.quality_first"
    fast: bool
    favor_precision: bool
    favor_recall: bool
    include_comments: bool
    include_tables: bool


@dataclass(frozen=True)
class ExtractSettings(Section):
    PATH = "extract"
    commoncrawl_source: str
    commoncrawl_base_url: str
    commoncrawl_s3_uri: str
    url_prechecks: tuple[str, ...]
    max_html_bytes: int = count()
    allowed_mime: tuple[str, ...]
    fast: bool
    favor_precision: bool
    favor_recall: bool
    include_comments: bool
    include_tables: bool
    baseline_below_frac: float = fraction()
    quality_first_below_frac: float = fraction()
    quality_first: QualityFirstSettings
    timeout_s: float = within(0, 3600, low_open=True)
    min_text_chars: int = non_negative()
    lang_keep: tuple[str, ...]
    lang_min_score: float = fraction()


@dataclass(frozen=True)
class PerplexitySettings(Section):
    PATH = "quality.perplexity"
    enabled: bool
    model: str | None
    bucket_percentiles: tuple[float, ...] = fraction()


@dataclass(frozen=True)
class QualityTrainSettings(Section):
    PATH = "quality.train"
    reference_urls: str | None
    wikipedia: str | None
    min_positives: int = count()
    valid_fraction: float = within(0, 1, low_open=True, high_open=True)
    dim: int = count()
    epoch: int = count()
    lr: float = positive()
    wordNgrams: int = count()  # noqa: N815 - fastText's own option names
    minCount: int = count()  # noqa: N815
    bucket: int = count()


@dataclass(frozen=True)
class QualitySettings(Section):
    PATH = "quality"
    model: str | None
    max_words: int = count()
    selection: str
    threshold: float = fraction()
    top_fraction: float = within(0, 1, low_open=True)
    pareto_alpha: float = positive()
    hq_mode: str
    hq_top_fraction: float = fraction()
    hq_domains: tuple[str, ...]
    hq_domains_file: str | None
    perplexity: PerplexitySettings
    max_perplexity: float | None = positive()
    train: QualityTrainSettings


@dataclass(frozen=True)
class MinHashSettings(Section):
    PATH = "dedup.minhash"
    ngram: int = count()
    num_perm: int = count()
    bands: int = count()
    rows: int = count()
    threshold: float | None = fraction()
    fp_weight: float = fraction()
    fn_weight: float = fraction()
    seed: int = within(0, 2**32 - 1)
    scheme: str
    hash: str
    verify_jaccard: bool
    verify_threshold: float = fraction()
    cc_checkpoint_every: int = count()
    cc_max_iterations: int = count()


@dataclass(frozen=True)
class LineDedupSettings(Section):
    PATH = "dedup.lines"
    max_count: int = count()
    min_words: int | None = non_negative()


@dataclass(frozen=True)
class DedupSettings(Section):
    PATH = "dedup"
    url_enabled: bool
    minhash_enabled: bool
    minhash: MinHashSettings
    lines_enabled: bool
    lines: LineDedupSettings


@dataclass(frozen=True)
class DecontamSettings(Section):
    PATH = "decontam"
    eval_sets: tuple[str, ...]
    ngram_percentile: int = within(0, 100)
    min_ngram: int = count()
    max_ngram: int = count()
    mode: str
    cut_window_chars: int = non_negative()
    cut_min_piece_chars: int = non_negative()
    cut_max_pieces: int = count()


@dataclass(frozen=True)
class DomainSettings(Section):
    PATH = "mix.domains"
    default: str
    rules: tuple[Frozen, ...]
    classifier_model: str | None
    classifier_min_prob: float = fraction()


@dataclass(frozen=True)
class TokenizerSettings(Section):
    PATH = "mix.tokenizer"
    model: str | None
    type: str
    vocab_size: int = count()
    byte_fallback: bool
    split_digits: bool
    character_coverage: float = within(0, 1, low_open=True)
    normalization: str
    sample_docs: int = count()
    sample_max_chars: int = count()
    max_sentence_length: int = count()
    num_threads: int = count()


@dataclass(frozen=True)
class ShardSettings(Section):
    PATH = "mix.shards"
    max_shard_tokens: int = count()
    val_fraction: float = within(0, 1, high_open=True)
    min_val_docs: int = non_negative()
    anneal_hq_weight: float = fraction()


@dataclass(frozen=True)
class ProposeSettings(Section):
    PATH = "mix.propose"
    k: int = count()
    concentration: float = positive()
    proxy_preset: str
    proxy_steps: int = count()


@dataclass(frozen=True)
class FitSettings(Section):
    PATH = "mix.fit"
    n_starts: int = count()
    huber_delta: float = positive()
    min_spearman: float = within(-1, 1)
    target_weights: Frozen | None


@dataclass(frozen=True)
class MixSettings(Section):
    """Owner of the epoch cap `e_max`: the trainer reads it from the manifest the shards stage writes."""

    PATH = "mix"
    domains: DomainSettings
    tokenizer: TokenizerSettings
    shards: ShardSettings
    model_params: float | None = positive()
    tokens_per_param: int = count()
    token_budget: float | None = positive()
    e_max: float = positive()
    weights_file: str | None
    propose: ProposeSettings
    fit: FitSettings


@dataclass(frozen=True)
class TrainSettings(Section):
    PATH = "train"
    preset: str
    seq_len: int | None = count()
    micro_batch: int = count()
    grad_accum: int = count()
    steps: int = count()
    lr: float = within(0, 1, low_open=True)
    min_lr_frac: float = fraction()
    warmup_steps: int = non_negative()
    decay_fraction: float = fraction()
    weight_decay: float = non_negative()
    beta1: float = within(0, 1, high_open=True)
    beta2: float = within(0, 1, high_open=True)
    grad_clip: float = non_negative()
    seed: int = within(0, 2**32 - 1)
    max_epochs: float | None = positive()
    hq_weight: float | None = fraction()
    dataloader_workers: int = non_negative()
    log_every: int = count()
    eval_every: int = count()
    eval_windows: int = count()
    ckpt_every: int = count()
    ckpt_every_min: float | None = positive()
    ckpt_async: bool
    keep_checkpoints: int = count()
    max_failures: int = non_negative()
    run_name: str
    workers: int = count()
    gpu: bool
    compile: bool
    fsdp: str
    threads: int | None = count()
    cache_dir: str
    replay: float = within(0, 1, high_open=True)


# The sections declared here. A row-wise stage of the registry (`pipeline/stages.py`, `stage=`) declares
# its own as `Settings` on its class, next to its code: `filter`'s is built from the filter families, each
# of which declares its sub-section next to its rules (`pipeline/filters/stage.py`). Importing a stage is
# heavy, so its section is read on first use: config loading asks for it only when a run sets a number in it.
_OWN: tuple[type[Section], ...] = (
    RunSettings, SparkSettings, ImportSettings, ExtractSettings, QualitySettings, DedupSettings,
    DecontamSettings, MixSettings, TrainSettings,
)  # fmt: skip


def _row_wise_sections() -> dict[str, str]:
    """Top-level section -> "module:Class" of the row-wise stage built from it."""
    from pipeline import stages  # light: it names the stages' classes, importing none

    return {spec.reads[0]: spec.stage for spec in stages.STAGES if spec.stage}


def section_class(top: str) -> type[Section] | None:
    """The settings class of one top-level section (None for a name that is none)."""
    own = next((cls for cls in _OWN if cls.PATH == top), None)
    if own is not None or top not in _row_wise_sections():
        return own
    from pipeline import stages

    return stages.resolve(_row_wise_sections()[top]).Settings


def __getattr__(name: str) -> Any:
    """`SECTIONS` (every section's class) and `FilterSettings`, built when first asked for."""
    if name == "SECTIONS":
        return (*_OWN, *(section_class(top) for top in _row_wise_sections()))
    if name == "FilterSettings":
        return section_class("filter")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
