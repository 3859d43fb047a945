"""The trainer's command line refuses bad requests in one line before Ray starts: a run name that would
leave OUT/train, a starting checkpoint of another model, and more GPU workers than the machine has."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.train import loop_config

REPO = Path(__file__).resolve().parent.parent
HOSTILE = ["../../x", "..", ".", "a/b", "/abs", ".hidden", "", "x" * 200]


def trainer_cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "trainer", *args], capture_output=True, text=True, timeout=timeout, cwd=REPO
    )


@pytest.fixture()
def out(tmp_path):
    path = tmp_path / "nested" / "run"
    write_demo_shards(path, docs_per_domain=20, anneal_docs=4, val_docs=2)
    return path


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_run_names_are_refused(name, tmp_path):
    train = load_config()["train"]
    with pytest.raises(ValueError, match="--run-name"):
        loop_config(train, tmp_path, name)
    with pytest.raises(ValueError, match="--branch-from-pre-decay"):
        loop_config(train, tmp_path, "main", branch_from_pre_decay=name)


def test_cli_refuses_a_traversal_run_name_before_writing(out):
    before = sorted(p for p in out.parent.parent.rglob("*"))
    proc = trainer_cli("train", "--out", str(out), "--run-name", "../../x", "--steps", "2")
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("FAILED: --run-name: '../../x'"), lines
    assert sorted(p for p in out.parent.parent.rglob("*")) == before  # nothing written, inside or out
