"""Real local Ray Train on demo shards (tiny preset, CPU, gloo); two Ray trainings share one `ray.init`.

A run is stopped after step 9 (checkpoint, exit) and rerun under the same name: Ray hands the checkpoint
back and the run goes on through stable and anneal. Its loss trajectory must equal an uninterrupted run of
the same loop (run in-process without Ray, deterministic CPU kernels, one thread) - which also shows that
Ray adds nothing to the numerics. Ray worker-group starts cost ~12 s each, hence one resumed run only.
"""

import dataclasses
import json

import pytest
import torch

from pipeline.config import load_config
from pipeline.settings import TrainSettings
from trainer.demo_shards import write_demo_shards
from trainer.schedule import WSDSchedule
from trainer.train import fit, loop_config, read_metrics
from trainer.train_loop import Trainer

pytestmark = pytest.mark.ray

STEPS, WARMUP, DECAY, LOG = 24, 4, 0.25, 2  # decay starts at step 18


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    import ray

    path = tmp_path_factory.mktemp("train")
    write_demo_shards(path, docs_per_domain=80)
    # "local": a new instance, never a cluster a stale ray_current_cluster file names
    if ray.is_initialized():  # an earlier test module's driver connection
        ray.shutdown()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield path
    ray.shutdown()


# one worker, and a failure fails the test at once (train.max_failures would retry it)
DRIVER = dataclasses.replace(TrainSettings.from_config(load_config()), workers=1, max_failures=0)


def config(out, name, **extra):
    train = load_config()["train"]
    return loop_config(
        train, out, name, steps=STEPS, warmup_steps=WARMUP, decay_fraction=DECAY, lr=3e-3, micro_batch=8,
        log_every=LOG, eval_every=12, ckpt_every=100, threads=1, **extra,
    )  # fmt: skip


@pytest.fixture(scope="module")
def full_run(out):
    """The uninterrupted reference: the same Trainer, in this process, no Ray."""
    threads, deterministic = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    try:
        Trainer(config(out, "full"), torch.device("cpu"), report=lambda metrics, checkpoint: None).run()
    finally:
        torch.set_num_threads(threads)
        torch.use_deterministic_algorithms(deterministic)
    return read_metrics(out, "full")


@pytest.fixture(scope="module")
def resumed_run(out, full_run):
    fit(config(out, "resumed", stop_after=9), DRIVER)
    head = read_metrics(out, "resumed")
    fit(config(out, "resumed"), DRIVER)  # same name: Ray hands the step-9 checkpoint back to the worker
    return head, read_metrics(out, "resumed")


def test_loss_falls_and_schedule_is_followed(out, resumed_run):
    run = [m for m in resumed_run[1] if m["step"] != 9]  # 9: the extra line of the stop checkpoint
    assert [m["step"] for m in run] == list(range(LOG, STEPS + 1, LOG))
    losses = [m["train_loss"] for m in run]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.5
    schedule = WSDSchedule(STEPS, 3e-3, WARMUP, DECAY)
    for m in run:  # the lr of the step that ended the log interval
        assert m["lr"] == pytest.approx(schedule.lr(m["step"] - 1), rel=1e-12)
    phases = [m["phase"] for m in run]  # steps 2, 4 | 6 .. 18 | 20 .. 24: anneal from step index 18
    assert phases == ["warmup"] * 2 + ["stable"] * 7 + ["anneal"] * 3
    last = run[-1]
    assert last["mfu"] is None and last["tokens_per_s"] > 0
    assert {"val_loss/news", "val_ppl/forum", "val_loss/reference"} <= set(last)
    assert run[5]["val_loss"] > last["val_loss"]  # step 12 vs 24


def test_data_switches_to_anneal_mix_at_decay_start(out, resumed_run):
    pre = out / "train" / "pre_decay" / "resumed"
    assert json.loads((pre / "meta.json").read_text())["step"] == 18
    pre_cursor = torch.load(pre / "data" / "stream0.pt", weights_only=False)
    assert pre_cursor["batches"] == 18 and pre_cursor["stream"]["mix_name"] == "main"
    final = sorted(p for p in (out / "train" / "resumed").glob("checkpoint_*") if p.is_dir())[-1]
    end_cursor = torch.load(final / "data" / "stream0.pt", weights_only=False)["stream"]
    assert end_cursor["mix_name"] == "anneal"
    assert sum(end_cursor["taken"][k] for k in end_cursor["taken"] if k.startswith("hq/")) > 0


def test_killed_run_resumes_with_the_same_trajectory(out, full_run, resumed_run):
    head, resumed = resumed_run
    assert [m["step"] for m in head] == [2, 4, 6, 8, 9]  # step 9: the stop checkpoint
    assert [m["step"] for m in resumed] == [2, 4, 6, 8, 9, 10, 12, 14, 16, 18, 20, 22, 24]  # no duplicates
    by_step = {m["step"]: m for m in resumed}
    # the full run's line at step 10 averages steps 9 and 10; the resumed run logged them apart
    both = (by_step[9]["train_loss"] + by_step[10]["train_loss"]) / 2
    assert abs(both - full_run[4]["train_loss"]) <= 1e-6
    resumed = [m for m in resumed if m["step"] not in (9, 10)]
    full_run = [m for m in full_run if m["step"] != 10]
    assert len(full_run) == len(resumed) == 11
    for a, b in zip(full_run, resumed):
        assert abs(a["train_loss"] - b["train_loss"]) <= 1e-6, (a["step"], a["train_loss"], b["train_loss"])
        assert a["lr"] == b["lr"] and a["phase"] == b["phase"]
    assert abs(full_run[-1]["val_loss"] - resumed[-1]["val_loss"]) <= 1e-6
