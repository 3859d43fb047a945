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
        ("extract:\n  timeout_s: -1\n", "extract.timeout_s: must be in (0, 3600], got -1"),
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
        ("extract.lang_min_score", 7, "extract.lang_min_score: must be in [0, 1], got 7"),
        ("quality.threshold", 1.5, "quality.threshold: must be in [0, 1], got 1.5"),
        ("spark.shuffle_partitions", 0, "spark.shuffle_partitions: must be >= 1, got 0"),
        ("mix.shards.max_shard_tokens", 0, "mix.shards.max_shard_tokens: must be >= 1, got 0"),
        ("mix.e_max", 0, "mix.e_max: must be > 0, got 0"),
        ("train.replay", 7.5, "train.replay: must be in [0, 1), got 7.5"),
        ("train.beta1", 3, "train.beta1: must be in [0, 1), got 3"),
        ("mix.fit.min_spearman", 9, "mix.fit.min_spearman: must be in [-1, 1], got 9"),
        ("extract.timeout_s", float("inf"), "extract.timeout_s: must be a finite number, got inf"),
        ("filter.pii.timeout_s", float("inf"), "filter.pii.timeout_s: must be a finite number, got inf"),
        (
            "filter.fineweb.max_short_line_frac",
            1.5,
            "filter.fineweb.max_short_line_frac: must be in [0, 1], got 1.5",
        ),
        ("filter.gopher_quality.min_words", -1, "filter.gopher_quality.min_words: must be >= 0, got -1"),
        ("dedup.minhash.threshold", "high", "dedup.minhash.threshold: expected a number, got 'high'"),
        (
            "quality.perplexity.bucket_percentiles",
            [0.3, 1.5],
            "quality.perplexity.bucket_percentiles: must be in [0, 1], got 1.5",
        ),
        ("extract.lang_keep", ["en", 3], "extract.lang_keep: items must be str, got 3"),
    ],
)
def test_out_of_range_values_are_refused_naming_the_key(key, value, message):
    with pytest.raises(ConfigError) as err:
        load_config(overrides={key: value})
    assert str(err.value) == message and "\n" not in str(err.value)


def test_a_config_without_filter_numbers_checks_its_ranges_without_importing_the_filters():
    """The filter families declare their sections' ranges in their own (heavy) modules: loading a
    config imports them only when it sets a `filter.` number, which is then checked against them."""
    script = (
        "import sys; from pipeline.config import load_config, ConfigError\n"
        "load_config(overrides={'train.lr': 0.001, 'dedup.minhash.threshold': 0.7})\n"
        "print('pipeline.filters' in sys.modules, 'pyarrow' in sys.modules)\n"
        "load_config(overrides={'filter.c4.min_num_sentences': 2})\n"
        "print('pipeline.filters.c4' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert proc.stdout.split() == ["False", "False", "True"], proc.stderr[-2000:]


def test_defaults_pass_their_own_checks():
    from pipeline.config import DEFAULT_CONFIG, _merge, _read_yaml

    defaults = _read_yaml(DEFAULT_CONFIG)
    _merge(_read_yaml(DEFAULT_CONFIG), defaults, prefix="")  # every default value, checked as a user value


def _numeric_keys(kinds):
    from pipeline.config import _declared

    return sorted(key for key, (kind, _range) in _declared().items() if kind in kinds)


@pytest.mark.parametrize("key", _numeric_keys((float,)))
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_no_float_key_takes_nan_or_infinity(key, value):
    """No comparison with NaN fails, so a NaN threshold would switch its rule off; infinity budgets crash."""
    from pipeline.config import default

    with pytest.raises(ConfigError) as err:
        load_config(overrides={key: [value] if isinstance(default(key), list) else value})
    assert str(err.value) == f"{key}: must be a finite number, got {value!r}"


def test_every_numeric_key_declares_its_range_on_its_field():
    from pipeline.config import DEFAULT_CONFIG, _declared, _read_yaml
    from pipeline.settings import SECTIONS

    def numeric_leaves(node, prefix):
        for key, value in node.items():
            if isinstance(value, dict):
                yield from numeric_leaves(value, f"{prefix}{key}.")
            elif isinstance(value, (int, float)) and not isinstance(value, bool):
                yield f"{prefix}{key}"

    declared = _declared()
    numeric = list(numeric_leaves(_read_yaml(DEFAULT_CONFIG), ""))
    assert len(numeric) > 60 and {"train.replay", "extract.timeout_s"} <= set(numeric)
    for key in numeric:
        assert declared[key][1] is not None, f"{key}: no range declared on its settings field"
    for key in _numeric_keys((int, float)):  # optional (null) numbers too
        assert declared[key][1] is not None, key
    assert {cls.PATH for cls in SECTIONS} == set(_read_yaml(DEFAULT_CONFIG))


def test_cli_refuses_an_infinite_timeout_on_one_line(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "jobs",
            "extract",
            "--output",
            str(tmp_path / "out"),
            "--set",
            "extract.timeout_s=.inf",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config error: extract.timeout_s: must be a finite number, got inf"
    ]


def test_set_pairs_parse_exponents_without_a_dot_as_numbers():
    from pipeline.config import parse_overrides

    overrides = parse_overrides(["train.lr=3e-4", "train.run_name=a=b", "train.gpu=true"])
    assert overrides == {"train.lr": 3e-4, "train.run_name": "a=b", "train.gpu": True}
    assert load_config(overrides=overrides)["train"]["lr"] == 3e-4
    with pytest.raises(ConfigError, match="--set train.lr: expected KEY=VALUE"):
        parse_overrides(["train.lr"])
