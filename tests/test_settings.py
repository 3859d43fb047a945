"""Typed settings (pipeline/settings.py): default.yaml is their schema and the only home of defaults."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config
from pipeline.filters.fineweb import FineWebFilter
from pipeline.settings import SECTIONS, C4Settings, FineWebSettings, PiiSettings, Section

ROOT = Path(__file__).resolve().parent.parent
# `cfg.get("key", literal)`: a default restated in Python next to the one in configs/default.yaml.
RESTATED_DEFAULT = re.compile(r"""\.get\("[a-z_]+", [0-9"'\[\{TF]""")
STAGE_PACKAGES = ("pipeline", "jobs", "classifiers", "mixing", "trainer")


def yaml_leaves(node: Mapping, prefix: str) -> set[str]:
    return {
        leaf
        for key, value in node.items()
        for leaf in (yaml_leaves(value, f"{prefix}{key}.") if isinstance(value, dict) else {f"{prefix}{key}"})
    }


def field_leaves(cls: type[Section], yaml_node: Mapping, prefix: str) -> list[str]:
    """Every leaf field of a settings class (nested sections walked), as dotted keys; a mapping-valued
    field (e.g. `filter.pii.placeholders`) is one leaf and stands for every key under it in the YAML."""
    hints = typing.get_type_hints(cls)
    out = []
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        assert field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING, (
            f"{prefix}{field.name}: a default in Python (defaults live in configs/default.yaml)"
        )
        assert field.name in yaml_node, f"{prefix}{field.name}: a field with no key in configs/default.yaml"
        if isinstance(kind, type) and issubclass(kind, Section):
            assert kind.PATH == f"{prefix}{field.name}"
            out += field_leaves(kind, yaml_node[field.name], f"{prefix}{field.name}.")
        elif isinstance(yaml_node[field.name], dict):
            out += sorted(yaml_leaves(yaml_node[field.name], f"{prefix}{field.name}."))
        else:
            out.append(f"{prefix}{field.name}")
    return out


def test_every_default_yaml_key_is_read_by_exactly_one_typed_field():
    defaults = load_config()
    covered = []
    for cls in SECTIONS:
        covered += field_leaves(cls, defaults[cls.PATH], f"{cls.PATH}.")
    assert len(covered) == len(set(covered))
    assert set(covered) == yaml_leaves(defaults, "")
    assert {cls.PATH for cls in SECTIONS} == set(defaults)


def test_settings_hold_the_yaml_values_frozen():
    cfg = load_config(overrides={"filter.fineweb.short_line_length": 20, "filter.c4.remove_citations": False})
    fineweb = FineWebSettings.from_config(cfg)
    assert fineweb.short_line_length == 20 and fineweb.max_short_line_frac == 0.67
    assert C4Settings.from_config(cfg).remove_citations is False
    pii = PiiSettings.from_config(cfg)
    assert (
        pii.types == tuple(cfg["filter"]["pii"]["types"])
        and dict(pii.placeholders) == cfg["filter"]["pii"]["placeholders"]
    )
    with pytest.raises(dataclasses.FrozenInstanceError):
        fineweb.short_line_length = 5  # type: ignore[misc]
    with pytest.raises(TypeError):
        pii.placeholders["email"] = "x"  # type: ignore[index]
    for cls in SECTIONS:  # every section builds from the loaded default config
        assert cls.from_config(cfg).PATH == cls.PATH
    # the stage reads the typed field: the override reaches it
    assert FineWebFilter(cfg["filter"]["fineweb"]).short_line_length == 20


def test_partial_section_takes_missing_keys_from_yaml_and_ignores_run_time_keys():
    fineweb = FineWebSettings.from_section({"short_line_length": 12, "lm_path": "ignored"})
    assert fineweb.short_line_length == 12
    assert fineweb.max_dup_line_char_frac == load_config()["filter"]["fineweb"]["max_dup_line_char_frac"]
    assert FineWebSettings.from_section(None) == FineWebSettings.from_config(load_config())
    timeout = PiiSettings.from_section({"timeout_s": 3}).timeout_s  # an int the loader accepts for a float
    assert timeout == 3.0 and isinstance(timeout, float)


def test_a_key_missing_from_the_config_and_the_yaml_is_an_error_naming_it():
    @dataclass(frozen=True)
    class Extended(Section):
        PATH = "filter.fineweb"
        short_line_length: int
        not_declared: int

    with pytest.raises(ConfigError, match=r"^filter\.fineweb\.not_declared: missing"):
        Extended.from_section({})


def test_no_stage_restates_a_yaml_default_as_a_python_literal():
    hits = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for package in STAGE_PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if RESTATED_DEFAULT.search(line)
    ]
    assert hits == []
    assert RESTATED_DEFAULT.search('cfg.get("short_line_length", 30)')  # the pattern does find one
