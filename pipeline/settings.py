"""Typed, read-only views of the run configuration: one frozen dataclass per `configs/default.yaml` section.

Each class mirrors its section field for field (`PATH` names it). What a key means, its unit and its
source is its comment in default.yaml, written once there and not repeated here. The YAML is also the
only home of the defaults: `from_section(d)` takes every field from the section dict `d` of a loaded
config (`pipeline.config.load_config` merges the defaults underneath), and a key a library caller
leaves out of a partial dict is read from default.yaml, never from a Python literal; a key in neither
is a `ConfigError` naming it. Keys the dict holds beyond the fields (values a job adds at run time,
e.g. quality's `model_path`) are not the settings' business and are ignored.

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
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pipeline.config import ConfigError, _defaults, section

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
    seed: int


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
    shuffle_partitions: int | None
    shuffle_input_mb: int
    max_shuffle_partitions: int
    driver_memory: str | None
    driver_memory_fraction: float
    driver_memory_max_gb: int
    arrow_batch_rows: int
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
    commoncrawl_base_url: str
    url_prechecks: tuple[str, ...]
    max_html_bytes: int
    allowed_mime: tuple[str, ...]
    fast: bool
    favor_precision: bool
    favor_recall: bool
    include_comments: bool
    include_tables: bool
    baseline_below_frac: float
    quality_first_below_frac: float
    quality_first: QualityFirstSettings
    timeout_s: float
    min_text_chars: int
    lang_keep: tuple[str, ...]
    lang_min_score: float


@dataclass(frozen=True)
class NsfwSettings(Section):
    """Owner of the blocklists: the text rule here and extract's URL pre-checks read them."""

    PATH = "filter.nsfw"
    enabled: bool
    domain_blocklists: tuple[str, ...]
    url_blocklists: tuple[str, ...]
    blocklist_cache_dir: str | None
    url_banned_words: str | None
    url_soft_banned_words: str | None
    url_banned_subwords: str | None
    soft_word_threshold: int
    ldnoobw_dir: str
    ldnoobw_fallback_lang: str
    nsfw_word_ratio_max: float | None


@dataclass(frozen=True)
class PiiSettings(Section):
    """Owner of the placeholders: the tokenizer (shards) keeps them as user-defined symbols."""

    PATH = "filter.pii"
    enabled: bool
    types: tuple[str, ...]
    placeholders: Frozen
    max_pii_hits: int | None
    timeout_s: float


@dataclass(frozen=True)
class GopherRepetitionSettings(Section):
    PATH = "filter.gopher_repetition"
    enabled: bool
    dup_line_frac: float | None
    dup_para_frac: float | None
    dup_line_char_frac: float | None
    dup_para_char_frac: float | None
    top_2gram_char_frac: float | None
    top_3gram_char_frac: float | None
    top_4gram_char_frac: float | None
    dup_5gram_char_frac: float | None
    dup_6gram_char_frac: float | None
    dup_7gram_char_frac: float | None
    dup_8gram_char_frac: float | None
    dup_9gram_char_frac: float | None
    dup_10gram_char_frac: float | None


@dataclass(frozen=True)
class GopherQualitySettings(Section):
    PATH = "filter.gopher_quality"
    enabled: bool
    min_words: int | None
    max_words: int | None
    min_mean_word_length: int | None
    max_mean_word_length: int | None
    max_symbol_word_ratio: float | None
    max_bullet_lines_frac: float | None
    max_ellipsis_lines_frac: float | None
    min_alpha_words_frac: float | None
    min_stop_words: int | None
    stop_words: tuple[str, ...]


@dataclass(frozen=True)
class C4Settings(Section):
    PATH = "filter.c4"
    enabled: bool
    min_words_per_line: int | None
    min_num_sentences: int | None
    max_word_length: int | None
    remove_citations: bool
    filter_no_terminal_punct: bool
    filter_lorem_ipsum: bool
    filter_javascript: bool
    filter_curly_bracket: bool
    filter_policy: bool
    filter_badwords: bool
    badwords_path: str | None


@dataclass(frozen=True)
class FineWebSettings(Section):
    PATH = "filter.fineweb"
    enabled: bool
    min_line_punct_frac: float | None
    max_short_line_frac: float | None
    short_line_length: int
    max_dup_line_char_frac: float | None
    max_newline_word_ratio: float | None


@dataclass(frozen=True)
class FilterSettings(Section):
    PATH = "filter"
    nsfw: NsfwSettings
    pii: PiiSettings
    gopher_repetition: GopherRepetitionSettings
    gopher_quality: GopherQualitySettings
    c4: C4Settings
    fineweb: FineWebSettings


@dataclass(frozen=True)
class PerplexitySettings(Section):
    PATH = "quality.perplexity"
    enabled: bool
    model: str | None
    bucket_percentiles: tuple[float, ...]


@dataclass(frozen=True)
class QualityTrainSettings(Section):
    PATH = "quality.train"
    reference_urls: str | None
    wikipedia: str | None
    min_positives: int
    valid_fraction: float
    dim: int
    epoch: int
    lr: float
    wordNgrams: int  # noqa: N815 - fastText's own option names
    minCount: int  # noqa: N815
    bucket: int


@dataclass(frozen=True)
class QualitySettings(Section):
    PATH = "quality"
    model: str | None
    max_words: int
    selection: str
    threshold: float
    top_fraction: float
    pareto_alpha: float
    hq_mode: str
    hq_top_fraction: float
    hq_domains: tuple[str, ...]
    hq_domains_file: str | None
    perplexity: PerplexitySettings
    max_perplexity: float | None
    train: QualityTrainSettings


@dataclass(frozen=True)
class MinHashSettings(Section):
    PATH = "dedup.minhash"
    ngram: int
    num_perm: int
    bands: int
    rows: int
    threshold: float | None
    fp_weight: float
    fn_weight: float
    seed: int
    scheme: str
    hash: str
    verify_jaccard: bool
    verify_threshold: float
    cc_checkpoint_every: int
    cc_max_iterations: int


@dataclass(frozen=True)
class LineDedupSettings(Section):
    PATH = "dedup.lines"
    max_count: int
    min_words: int | None


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
    ngram_percentile: int
    min_ngram: int
    max_ngram: int
    mode: str
    cut_window_chars: int
    cut_min_piece_chars: int
    cut_max_pieces: int


@dataclass(frozen=True)
class DomainSettings(Section):
    PATH = "mix.domains"
    default: str
    rules: tuple[Frozen, ...]
    classifier_model: str | None
    classifier_min_prob: float


@dataclass(frozen=True)
class TokenizerSettings(Section):
    PATH = "mix.tokenizer"
    model: str | None
    type: str
    vocab_size: int
    byte_fallback: bool
    split_digits: bool
    character_coverage: float
    normalization: str
    sample_docs: int
    sample_max_chars: int
    max_sentence_length: int
    num_threads: int


@dataclass(frozen=True)
class ShardSettings(Section):
    PATH = "mix.shards"
    max_shard_tokens: int
    val_fraction: float
    min_val_docs: int
    anneal_hq_weight: float


@dataclass(frozen=True)
class ProposeSettings(Section):
    PATH = "mix.propose"
    k: int
    concentration: float


@dataclass(frozen=True)
class FitSettings(Section):
    PATH = "mix.fit"
    n_starts: int
    huber_delta: float
    min_spearman: float
    target_weights: Frozen | None


@dataclass(frozen=True)
class MixSettings(Section):
    """Owner of the epoch cap `e_max`: the trainer reads it from the manifest the shards stage writes."""

    PATH = "mix"
    domains: DomainSettings
    tokenizer: TokenizerSettings
    shards: ShardSettings
    model_params: float | None
    tokens_per_param: int
    token_budget: float | None
    e_max: float
    weights_file: str | None
    propose: ProposeSettings
    fit: FitSettings


@dataclass(frozen=True)
class TrainSettings(Section):
    PATH = "train"
    preset: str
    seq_len: int | None
    micro_batch: int
    grad_accum: int
    steps: int
    lr: float
    min_lr_frac: float
    warmup_steps: int
    decay_fraction: float
    weight_decay: float
    beta1: float
    beta2: float
    grad_clip: float
    seed: int
    max_epochs: float | None
    hq_weight: float | None
    dataloader_workers: int
    log_every: int
    eval_every: int
    eval_windows: int
    ckpt_every: int
    ckpt_every_min: float | None
    ckpt_async: bool
    keep_checkpoints: int
    max_failures: int
    run_name: str
    workers: int
    gpu: bool
    compile: bool
    fsdp: str
    threads: int | None
    replay: float


SECTIONS: tuple[type[Section], ...] = (
    RunSettings, SparkSettings, ImportSettings, ExtractSettings, FilterSettings, QualitySettings, DedupSettings,
    DecontamSettings, MixSettings, TrainSettings,
)  # fmt: skip
