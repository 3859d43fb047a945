"""Run configuration: one YAML file per run, merged over `configs/default.yaml` and validated.

The default file is the schema: every key a run may set is present there with its default value
and a comment naming its source. Validation rejects unknown keys and values of the wrong type with
a one-line `ConfigError` naming the dotted key, e.g. `filter.gopher.min_words: expected int, got str`.
A number must be finite and lie in the range declared on its settings field (`pipeline/settings.py`,
the filter families' in their own modules; e.g. `lr: float = positive()`, the helpers are below);
list items must have the type of the default list's items, and a numeric list's items lie in its
field's range.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
import re
from pathlib import Path
from typing import Any

import yaml

DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "default.yaml"


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


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` pairs of a command line -> {dotted key: YAML value}, for `load_config`'s
    `overrides` (which checks each as a config file's value); a pair without `=` is a ConfigError."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--set {pair}: expected KEY=VALUE")
        out[key] = parse_yaml(value, f"--set {key}")
    return out


def check_key(dotted: str, value: Any) -> Any:
    """`value` for the key `dotted`, checked as a config file's value is (known key, type, declared
    range): for a library caller that sets a key in code rather than through `load_config`."""
    try:
        default_value = section(_defaults(), dotted)
    except (KeyError, TypeError):
        raise ConfigError(f"{dotted}: unknown key (see configs/default.yaml for the allowed keys)") from None
    return _check_value(dotted, default_value, value)


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


# YAML 1.1 (PyYAML) reads `3e-4` as a string (its floats need a dot); YAML 1.2 and people read a number
_NoAliasLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"), list("-+0123456789")
)


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


@dataclasses.dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts: finite, and within [low, high] (an open end excludes the
    bound; None: unbounded on that side). Declared on the settings field it checks."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def check(self, dotted: str, value: float) -> None:
        if not math.isfinite(value):  # NaN passes every comparison, so a NaN threshold is a rule switched off
            raise ConfigError(f"{dotted}: must be a finite number, got {value!r}")
        low, high = self.low, self.high
        if (low is not None and (value <= low if self.low_open else value < low)) or (
            high is not None and (value >= high if self.high_open else value > high)
        ):
            raise ConfigError(f"{dotted}: must be {self}, got {value!r}")

    def __str__(self) -> str:
        if self.high is None:
            return f"{'>' if self.low_open else '>='} {self.low}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high}"
        return f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"


# Field declarations for pipeline/settings.py: `name: float = fraction()` declares the field's range.
def within(
    low: float | None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> Any:
    return dataclasses.field(metadata={"range": Range(low, high, low_open, high_open)})


def fraction() -> Any:
    """A share, probability or similarity: [0, 1]."""
    return within(0, 1)


def count() -> Any:
    """Something of which 0 means nothing can run (a partition, a shard, a step, a hash): >= 1."""
    return within(1)


def non_negative() -> Any:
    return within(0)


def positive() -> Any:
    """A rate, a cap or a budget, where 0 would stop everything: > 0."""
    return within(0, low_open=True)


@functools.cache
def _declared(top: str | None = None) -> dict[str, tuple[type | None, Range | None]]:
    """Dotted key -> (the scalar type of its settings field, the range declared on it), of one
    top-level section or of all. One section at a time, so a run that sets no `filter.` number does
    not import the filter families, whose modules declare that section's fields."""
    from pipeline import settings  # settings imports this module: read it late

    classes = settings.SECTIONS if top is None else [settings.section_class(top) or settings.Section]
    return {
        dotted: (kind, field.metadata.get("range"))
        for cls in classes
        for dotted, field, kind in settings.leaf_fields(cls)
    }


def _field(dotted: str) -> tuple[type | None, Range | None]:
    return _declared(dotted.split(".")[0]).get(dotted, (None, None))


def _check_number(dotted: str, value: Any, kind: type | None) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{dotted}: expected a number, got {value!r}")
    if kind is int and not isinstance(value, int):
        raise ConfigError(f"{dotted}: expected an integer, got {value!r}")
    _kind, declared = _field(dotted)
    if declared is None:
        raise ConfigError(f"{dotted}: no range declared on its settings field")
    declared.check(dotted, value)
    return value


def _check_value(dotted: str, default: Any, value: Any) -> Any:
    if value is None:
        return None  # unset: the stage's own choice (or the rule is off)
    if default is None:  # optional setting: its field's type says what a value must be
        kind = _field(dotted)[0]
        if kind in (int, float):
            return _check_number(dotted, value, kind)
        return copy.deepcopy(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f"{dotted}: expected true/false, got {value!r}")
        return value
    if isinstance(default, (int, float)):
        return _check_number(dotted, value, _field(dotted)[0] or type(default))
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
                if kind in (int, float):
                    _check_number(dotted, item, kind)
        return copy.deepcopy(value)
    return value
