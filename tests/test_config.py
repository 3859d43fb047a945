"""Config loading: defaults merge, unknown keys and bad values are one-line errors naming the key."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pipeline.config import ConfigError, load_config


def _write(tmp_path, text):
    path = tmp_path / "run.yaml"
    path.write_text(text)
    return path


def test_defaults_load_and_user_values_override(tmp_path):
    cfg = load_config(_write(tmp_path, "extract:\n  lang_min_score: 0.5\n  lang_keep: [en, de]\n"))
    assert cfg["extract"]["lang_min_score"] == 0.5
    assert cfg["extract"]["lang_keep"] == ["en", "de"]
    assert cfg["extract"]["timeout_s"] == load_config()["extract"]["timeout_s"]


@pytest.mark.parametrize(
    "text, message",
    [
        ("extract:\n  lang_min_scor: 0.5\n", "extract.lang_min_scor: unknown key"),
        ("nonsense: 1\n", "nonsense: unknown key"),
        ("extract:\n  lang_min_score: high\n", "extract.lang_min_score: expected a number"),
        ("extract:\n  max_html_bytes: 1.5\n", "extract.max_html_bytes: expected an integer"),
        ("extract:\n  timeout_s: -1\n", "extract.timeout_s: must be >= 0"),
        ("extract:\n  lang_keep: en\n", "extract.lang_keep: expected a list"),
        ("extract: 3\n", "extract: expected a mapping"),
        ("extract:\n  timeout_s: [1\n", "not valid YAML"),
    ],
)
def test_bad_config_is_one_line_error_naming_the_key(tmp_path, text, message):
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_overrides_are_validated_too():
    assert load_config(overrides={"run.seed": 7})["run"]["seed"] == 7
    with pytest.raises(ConfigError, match="run.sed: unknown key"):
        load_config(overrides={"run.sed": 7})


def test_cli_reports_config_error_on_one_line(tmp_path):
    bad = _write(tmp_path, "extract:\n  lang_min_scor: 0.5\n")
    proc = subprocess.run(
        [sys.executable, "-m", "jobs", "extract", "--output", str(tmp_path / "out"), "--config", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: extract.lang_min_scor: unknown key (see configs/default.yaml for the allowed keys)"
    ]


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("extract.lang_min_score", 7, "extract.lang_min_score: a fraction must lie in [0, 1], got 7"),
        ("quality.threshold", 1.5, "quality.threshold: a fraction must lie in [0, 1], got 1.5"),
        ("spark.shuffle_partitions", 0, "spark.shuffle_partitions: a count must be at least 1, got 0"),
        ("mix.shards.max_shard_tokens", 0, "mix.shards.max_shard_tokens: a count must be at least 1, got 0"),
        ("mix.e_max", 0, "mix.e_max: must be > 0, got 0"),
        ("extract.lang_keep", ["en", 3], "extract.lang_keep: items must be str, got 3"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(key, value, message):
    with pytest.raises(ConfigError) as err:
        load_config(overrides={key: value})
    assert str(err.value) == message and "\n" not in str(err.value)


def test_defaults_pass_their_own_checks():
    from pipeline.config import DEFAULT_CONFIG, _merge, _read_yaml

    defaults = _read_yaml(DEFAULT_CONFIG)
    _merge(_read_yaml(DEFAULT_CONFIG), defaults, prefix="")  # every default value, checked as a user value
