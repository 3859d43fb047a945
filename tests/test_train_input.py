"""Training input is checked against the manifest before Ray starts: a truncated,
corrupt or replaced shard, a token id past the vocabulary, and a manifest prefix pointing outside the
shards folder each end in one line naming the file, within seconds."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pipeline.shards.megatron import bin_path
from trainer.data import load_manifest
from trainer.demo_shards import write_demo_shards
from trainer.verify import ShardError, verify_shards

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture()
def shards(tmp_path):
    return write_demo_shards(tmp_path / "run", docs_per_domain=20, anneal_docs=4, val_docs=2)


def _first_bin(shards: Path) -> Path:
    return Path(bin_path(shards / load_manifest(shards)["shards"][0]["prefix"]))


def test_intact_shards_pass(shards):
    assert verify_shards(shards, load_manifest(shards)) == len(load_manifest(shards)["shards"])


def test_truncated_shard_is_named(shards):
    path = _first_bin(shards)
    path.write_bytes(path.read_bytes()[:-2])
    with pytest.raises(ShardError, match=f"{path.name}.*truncated or replaced"):
        verify_shards(shards, load_manifest(shards))


def test_same_size_valid_ids_but_other_bytes_fail_the_sha256(shards):
    path = _first_bin(shards)
    tokens = np.fromfile(path, dtype=np.dtype(load_manifest(shards)["dtype"]))
    tokens[:] = tokens[::-1]  # valid token ids, same size: only the checksum can tell
    tokens.tofile(path)
    with pytest.raises(ShardError, match=f"{path.name}: sha256 differs"):
        verify_shards(shards, load_manifest(shards))


def test_token_id_past_vocab_is_refused(shards):
    manifest = load_manifest(shards)
    manifest["tokenizer"]["vocab_size"] = 10  # ids of the demo shards reach 511
    with pytest.raises(ShardError, match=r"token id \d+ >= the tokenizer's vocab size 10"):
        verify_shards(shards, manifest)


def test_manifest_prefix_outside_the_shards_folder_is_refused(shards):
    manifest = load_manifest(shards)
    manifest["shards"][0]["prefix"] = "../../escaped/news_00000"
    with pytest.raises(ShardError, match="points outside"):
        verify_shards(shards, manifest)


def test_cli_fails_before_ray_with_the_file_on_the_last_line(shards):
    path = _first_bin(shards)
    path.write_bytes(path.read_bytes()[:-2])
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "trainer", "train", "--out", str(shards.parent), "--steps", "2"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("FAILED: ") and str(path) in last, proc.stderr[-2000:]
    assert len(proc.stderr.strip().splitlines()) == 1  # Ray never started: its start-up logs nothing
    assert time.monotonic() - started < 120
    assert json.loads((shards / "manifest.json").read_text())  # the manifest itself untouched
