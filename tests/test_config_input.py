"""Hostile or broken config input ends in one line naming the reason:
YAML alias bombs are refused before they expand, a binary --config file and a bad --set value too."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from pipeline.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent


def _alias_bomb(levels: int = 9) -> str:
    """The 445-byte "billion laughs" shape: each level lists the previous one ten times."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_alias_bomb_is_refused_at_once(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_alias_bomb())
    started = time.process_time()
    with pytest.raises(ConfigError, match="aliases .* are not allowed"):
        load_config(bomb)
    assert time.process_time() - started < 1.0
    with pytest.raises(ConfigError, match="aliases"):
        _set("run.name=[&x [1, 2], *x]")


def _set(pair: str):
    from jobs.__main__ import _overrides

    return _overrides([pair])


def _cli(tmp_path, *args):
    return subprocess.run(
        [sys.executable, "-m", "jobs", "extract", "--output", str(tmp_path / "out"), *args],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )


def test_binary_config_is_one_line_error(tmp_path):
    binary = tmp_path / "model.bin"
    binary.write_bytes(b"\x00\x01\xff\xfe" * 64)
    proc = _cli(tmp_path, "--config", str(binary))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "not a YAML text file" in lines[0], proc.stderr


def test_bad_set_value_puts_the_reason_on_the_last_line(tmp_path):
    proc = _cli(tmp_path, "--set", "extract.lang_keep=[en, de")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config error: --set extract.lang_keep:") and "not valid YAML" in lines[0]
    assert "^" not in lines[0]
    assert not (tmp_path / "out").exists()
