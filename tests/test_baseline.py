"""The Ray-overhead baseline (trainer/baseline.py) trains with the `train:` settings; its flags override them."""

from __future__ import annotations

import json
import sys

import torch

from pipeline.config import load_config
from pipeline.settings import TrainSettings
from trainer import baseline
from trainer.demo_shards import write_demo_shards


def test_flags_override_the_train_settings_and_the_rest_come_from_the_config(tmp_path, monkeypatch, capsys):
    write_demo_shards(tmp_path, docs_per_domain=20)
    seen = []
    real = baseline.train_baseline
    monkeypatch.setattr(
        baseline, "train_baseline", lambda shards, train: seen.append(train) or real(shards, train)
    )
    argv = ["baseline", "--out", str(tmp_path), "--steps", "2", "--micro-batch", "2", "--seq-len", "32"]
    monkeypatch.setattr(sys, "argv", [*argv, "--threads", "1"])
    threads = torch.get_num_threads()
    try:
        baseline.main()
    finally:
        torch.set_num_threads(threads)
    printed = json.loads(capsys.readouterr().out.splitlines()[-1])
    defaults = TrainSettings.from_config(load_config())
    assert printed["steps"] == 2 and printed["preset"] == defaults.preset and printed["tokens_per_s"] > 0
    (train,) = seen
    assert (train.steps, train.micro_batch, train.seq_len, train.threads) == (2, 2, 32, 1)
    assert (train.lr, train.weight_decay, train.grad_clip) == (
        defaults.lr,
        defaults.weight_decay,
        defaults.grad_clip,
    )
