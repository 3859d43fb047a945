"""Run configuration: one YAML file per run, merged over `configs/default.yaml` and validated.

The default file is the schema: every key a run may set is present there with its default value
and a comment naming its source. Validation rejects unknown keys and values of the wrong type with
a one-line `ConfigError` naming the dotted key, e.g. `filter.gopher.min_words: expected int, got str`.
Numbers must be non-negative; probabilities and fractions (by name: `*_frac`, `*_prob`,
`lang_min_score`, ...) must lie in [0, 1]; counts (`shuffle_partitions`, `max_shard_tokens`, ...)
must be at least 1; rates and caps (`e_max`, `lr`, ...) above 0; list items must have the type of
the default list's items.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"
FRACTION_SUFFIXES = ("_frac", "_fraction", "_ratio_max", "_prob")
# Other keys (by their last name part) that hold a probability, a share or a Jaccard similarity.
PROBABILITY_KEYS = frozenset(
    {"lang_min_score", "threshold", "verify_threshold", "character_coverage", "anneal_hq_weight",
     "hq_weight", "fp_weight", "fn_weight"}
)  # fmt: skip
# Counts where 0 means nothing can run (a partition, a shard, a step, a hash, ...).
COUNT_KEYS = frozenset(
    {"shuffle_partitions", "arrow_batch_rows", "max_shard_tokens", "max_html_bytes", "ngram", "num_perm",
     "bands", "rows", "cc_checkpoint_every", "cc_max_iterations", "max_count", "vocab_size", "sample_docs",
     "sample_max_chars", "max_sentence_length", "num_threads", "micro_batch", "grad_accum", "steps",
     "log_every", "eval_every", "eval_windows", "ckpt_every", "keep_checkpoints", "workers", "k", "n_starts",
     "min_positives", "epoch", "dim", "bucket", "soft_word_threshold", "short_line_length",
     "max_word_length", "tokens_per_param"}
)  # fmt: skip
POSITIVE_KEYS = frozenset({"e_max", "timeout_s", "lr", "pareto_alpha", "concentration", "huber_delta"})
NEGATIVE_OK = ("seed", "offset")  # name fragments of numeric keys that may be negative


class ConfigError(ValueError):
    """A bad config: the message is one line naming the key."""


def load_config(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Default config, merged with the YAML at `path` and then with dotted `overrides`."""
    base = _read_yaml(DEFAULT_CONFIG)
    if path is not None:
        user = _read_yaml(Path(path))
        _merge(base, user, prefix="")
    for dotted, value in (overrides or {}).items():
        _merge(base, _nest(dotted, value), prefix="")
    return base


@functools.cache
def _defaults() -> dict[str, Any]:
    return _read_yaml(DEFAULT_CONFIG)


def default(dotted: str) -> Any:
    """The default value of one key, read from configs/default.yaml: code that needs a default when no
    run config reaches it (a library call, an old manifest) asks here instead of restating the value."""
    return copy.deepcopy(section(_defaults(), dotted))


def section(cfg: dict[str, Any], dotted: str) -> dict[str, Any]:
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


class _NoAliasLoader(yaml.SafeLoader):
    """safe_load without anchors/aliases: a config never needs them, and a few hundred bytes of nested
    aliases (a "billion laughs" file) expand to gigabytes."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(
                f"line {event.start_mark.line + 1}: YAML aliases (*{event.anchor}) are not allowed"
            )
        return super().compose_node(parent, index)


def parse_yaml(text: str, where: str) -> Any:
    """One YAML document (no aliases); a ConfigError with a one-line reason naming `where` otherwise."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}:" if mark else ""
        reason = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{where}:{line} not valid YAML ({reason})") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not a YAML text file (byte {exc.start} is not UTF-8)") from None
    data = parse_yaml(text, str(path)) or {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    node = out
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _merge(base: dict[str, Any], user: dict[str, Any], prefix: str) -> None:
    for key, value in user.items():
        dotted = f"{prefix}{key}"
        if key not in base:
            raise ConfigError(f"{dotted}: unknown key (see configs/default.yaml for the allowed keys)")
        default = base[key]
        if isinstance(default, dict):
            if not isinstance(value, dict):
                raise ConfigError(f"{dotted}: expected a mapping, got {type(value).__name__}")
            _merge(default, value, prefix=dotted + ".")
            continue
        base[key] = _check_value(dotted, default, value)


def _check_range(dotted: str, value: float) -> None:
    name = dotted.rsplit(".", 1)[-1]
    if value < 0 and not any(frag in name for frag in NEGATIVE_OK):
        raise ConfigError(f"{dotted}: must be >= 0, got {value!r}")
    if (name.endswith(FRACTION_SUFFIXES) or name in PROBABILITY_KEYS) and not 0 <= value <= 1:
        raise ConfigError(f"{dotted}: a fraction must lie in [0, 1], got {value!r}")
    if name in COUNT_KEYS and value < 1:
        raise ConfigError(f"{dotted}: a count must be at least 1, got {value!r}")
    if name in POSITIVE_KEYS and value <= 0:
        raise ConfigError(f"{dotted}: must be > 0, got {value!r}")


def _check_value(dotted: str, default: Any, value: Any) -> Any:
    if value is None:
        return None  # unset: the stage's own choice (or the rule is off)
    if default is None:  # optional setting: any scalar/list, but a number still within its range
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            _check_range(dotted, value)
        return copy.deepcopy(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted}: expected true/false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{dotted}: expected a number, got {value!r}")
        if isinstance(default, int) and not isinstance(value, int):
            raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
        _check_range(dotted, value)
        return value
    if isinstance(default, str):
        if not isinstance(value, str):
            raise ConfigError(f"{dotted}: expected a string, got {value!r}")
        return value
    if isinstance(default, list):
        if not isinstance(value, list):
            raise ConfigError(f"{dotted}: expected a list, got {value!r}")
        if default:  # items of the default's type (a bool is no number here)
            kind = type(default[0])
            for item in value:
                if type(item) is not kind and not (kind is float and type(item) is int):
                    raise ConfigError(f"{dotted}: items must be {kind.__name__}, got {item!r}")
        return copy.deepcopy(value)
    return value
