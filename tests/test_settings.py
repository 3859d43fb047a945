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
from pipeline.filters.c4 import C4Settings
from pipeline.filters.fineweb import FineWebFilter, FineWebSettings
from pipeline.filters.pii import PiiSettings
from pipeline.settings import SECTIONS, Section

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


# Parameters that hold a configured value under another name than its default.yaml key.
CONFIG_ALIASES = {
    "batch_rows",
    "hash_name",
    "checkpoint_every",
    "max_iterations",
    "max_payload_bytes",
    "compression",
}
# Literal defaults allowed, each for a reason: none restates a default.yaml value.
ALLOWED_LITERAL_DEFAULTS = {
    # a statistical helper's own reproducibility seed; the jobs pass run.seed
    "seed": "pure helpers (bootstrap, proposals, sampling) seed themselves; callers with a run pass run.seed",
    # an HTTP download's socket timeout: no config key (extract.timeout_s and filter.pii.timeout_s are CPU budgets)
    "timeout_s@pipeline/io/commoncrawl.py": "network timeout of a download",
    "timeout_s@pipeline/filters/blocklists_download.py": "network timeout of a download",
    # the decision threshold of a binary metric (precision/recall at P >= 0.5), not quality.threshold
    "threshold@classifiers/quality.py": "metric cut at probability 0.5",
    # a file's open mode ("rb", as pathlib's), not decontam.mode
    # the synthetic shards of tests and smoke runs speak a small made-up language of their own
    "vocab_size@trainer/demo_shards.py": "the demo language's size, not mix.tokenizer.vocab_size",
}


def _literal_defaults(path: Path):
    import ast

    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            positional = args.posonlyargs + args.args
            pairs = list(zip(positional[len(positional) - len(args.defaults) :], args.defaults))
            pairs += [(arg, d) for arg, d in zip(args.kwonlyargs, args.kw_defaults) if d is not None]
            for arg, value in pairs:
                if (
                    isinstance(value, ast.Constant)
                    and value.value is not None
                    and not isinstance(value.value, bool)
                ):
                    yield node.lineno, arg.arg, value.value


def test_no_library_signature_restates_a_configured_default():
    """A parameter named like a config key (or one of its aliases) takes no literal default: the
    caller passes the run's value or the function reads default.yaml (`pipeline.config.default`)."""
    config_names = {key.rpartition(".")[2] for key in yaml_leaves(load_config(), "")} | CONFIG_ALIASES
    found = []
    for package in STAGE_PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel.startswith("pipeline/fixtures/"):
                continue  # test data builders
            for line, name, value in _literal_defaults(path):
                if name in config_names and name not in ALLOWED_LITERAL_DEFAULTS:
                    if f"{name}@{rel}" not in ALLOWED_LITERAL_DEFAULTS:
                        found.append(f"{rel}:{line} {name}={value!r}")
    assert found == [], "literal defaults of configured values (read default.yaml instead):\n" + "\n".join(
        found
    )
