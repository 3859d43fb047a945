"""Training with OUT on an object store: the loopback S3 server of tests/s3_server.py (moto, real HTTP).

Demo shards are uploaded to a bucket as the shards stage writes them. The trainer stages them into a local
cache checked against the manifest's sha256, writes its checkpoints and metrics to the bucket, and resumes
from there; a checkpoint whose upload stopped before its meta.json is never picked.
"""

from __future__ import annotations

import json

import pytest
import s3_server

from pipeline import layout, storage
from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.shard_cache import cache_folder, stage
from trainer.train import loop_config, read_metrics


@pytest.fixture
def s3_out(s3_bucket, tmp_path):
    """OUT = s3://<bucket>/run holding demo shards; also returns the local originals."""
    local = tmp_path / "made"
    write_demo_shards(local, docs_per_domain=20, anneal_docs=4, val_docs=2)
    s3_server.upload_tree(local, f"{s3_bucket}/run")
    return f"{s3_bucket}/run", layout.shards_dir(local)


def _put(uri: str, data: bytes) -> None:
    storage.path(uri).write_bytes(data)


def test_a_cached_shard_with_altered_bytes_is_fetched_again(s3_out, tmp_path):
    out, originals = s3_out
    shards, cache = layout.shards_dir(out), str(tmp_path / "cache")
    folder = cache_folder(shards, cache)
    first = stage(shards, folder)
    files = first["fetched"]
    assert first == {"fetched": files, "refetched": 0, "kept": 0} and files > 4
    name = "train/news/news_00000.bin"
    damaged = bytearray((folder / name).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # same size: only the sha256 tells
    (folder / name).write_bytes(bytes(damaged))
    (folder / "val/forum/forum_00000.idx").write_bytes(b"")  # and one cut short

    again = stage(shards, folder)

    assert again == {"fetched": 0, "refetched": 2, "kept": files - 2}
    assert (folder / name).read_bytes() == (originals / name).read_bytes()
    assert (folder / "val/forum/forum_00000.idx").read_bytes() == (
        originals / "val/forum/forum_00000.idx"
    ).read_bytes()
    assert json.loads(layout.manifest_path(folder).read_text()) == json.loads(
        layout.manifest_path(originals).read_text()
    )


def test_another_shards_uri_gets_another_cache_folder(s3_bucket, tmp_path):
    cache = str(tmp_path / "cache")
    runs = ("a", "b", "variants/quality.selection=none", "variants/quality.selection=threshold")
    folders = [cache_folder(f"{s3_bucket}/{run}/shards", cache) for run in runs]
    assert len(set(folders)) == len(runs) and {f.parent for f in folders} == {folders[0].parent}
    assert folders[2].name.startswith("quality.selection_none-")  # readable, one plain folder name


def test_a_shard_changed_on_the_store_is_one_line_naming_it(s3_out, tmp_path, capsys):
    from trainer.__main__ import main

    out, originals = s3_out
    name = "train/forum/forum_00000.bin"
    changed = bytearray((originals / name).read_bytes())
    changed[0] ^= 0xFF
    _put(f"{out}/shards/{name}", bytes(changed))

    code = main(["train", "--out", out, "--steps", "2", "--set", f"train.cache_dir={tmp_path / 'cache'}"])

    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err == [
        f"FAILED: {out}/shards/{name}: sha256 differs from the manifest (corrupt or replaced on the store)"
    ]


def _local_config(out: str, cache, name: str = "local", **extra) -> dict:
    settings = dict(
        steps=4, warmup_steps=1, decay_fraction=0.25, lr=3e-3, micro_batch=2, eval_windows=2, log_every=1,
        eval_every=4, ckpt_every=2, threads=1, fsdp="off", cache_dir=str(cache),
    )  # fmt: skip
    return loop_config(load_config()["train"], out, name, **{**settings, **extra})


def test_local_training_on_the_store_resumes_past_a_half_uploaded_checkpoint_and_inits_from_it(
    s3_out, tmp_path
):
    import torch

    from trainer import checkpoint
    from trainer.local import latest_checkpoint, run_rank
    from trainer.train_loop import Trainer

    out, _ = s3_out
    config = _local_config(out, tmp_path / "cache")
    run_rank(config)
    train = layout.train_dir(out)
    keys = s3_server.keys(str(train))
    assert "metrics.jsonl" in keys
    # every 2 steps, and at the decay start (step 3), whose checkpoint is also kept aside as pre_decay
    assert {f"local/checkpoint_00000{step}/meta.json" for step in (2, 3, 4)} <= set(keys)
    assert "pre_decay/local/meta.json" in keys
    assert checkpoint.verify(layout.step_checkpoint_dir(train, "local", 4)) is None
    first = read_metrics(out, "local")
    assert [m["step"] for m in first] == [1, 2, 3, 4]

    # an upload cut off before its last object (meta.json, the completion marker) is never resumed from
    layout.step_checkpoint_dir(train, "local", 4).joinpath("meta.json").unlink()
    assert latest_checkpoint(train, "local") == layout.step_checkpoint_dir(train, "local", 3)
    run_rank(config)  # resumes at step 3 from a download of the store's checkpoint

    again = read_metrics(out, "local")
    assert again[:3] == first[:3]  # lines up to the resumed step kept as they were (a restart rewrites them)
    assert [m["step"] for m in again] == [1, 2, 3, 4]
    assert again[3]["train_loss"] == pytest.approx(first[3]["train_loss"], rel=1e-6)
    assert checkpoint.verify(layout.step_checkpoint_dir(train, "local", 4)) is None
    assert not list((tmp_path / "cache" / "downloads").glob("*"))  # downloads removed once loaded

    # an anneal branch from the pre-decay checkpoint kept on the store (step 3)
    run_rank(_local_config(out, tmp_path / "cache", "branch", branch_from_pre_decay="local"))
    assert [m["step"] for m in read_metrics(out, "branch")] == [4]

    # continual pretraining on a local OUT from the store's checkpoint, replaying the store's old shards
    stored = layout.step_checkpoint_dir(train, "local", 4)
    new = tmp_path / "crawl2"
    write_demo_shards(new, {"news": 0.5, "code": 0.5}, docs_per_domain=20, anneal_docs=4, val_docs=2, seed=7)
    cont = _local_config(
        str(new), tmp_path / "cache", init_from=str(stored), replay=0.3, steps=2, eval_every=2
    )
    trainer = Trainer(cont, torch.device("cpu"), report=lambda metrics, ckpt: None)
    reference = Trainer(config, torch.device("cpu"), report=lambda metrics, ckpt: None, resume=stored)
    for (name, a), b in zip(trainer.raw.state_dict().items(), reference.raw.state_dict().values()):
        assert torch.equal(a, b), name  # the store's weights, downloaded
    final = trainer.run()
    assert {"val_loss/code", "val_loss/old/forum", "val_loss_old"} <= set(final)  # old val shards, staged


@pytest.mark.ray
def test_ray_training_writes_checkpoints_and_metrics_to_s3_and_resumes_there(s3_out, tmp_path):
    import ray

    from trainer import checkpoint
    from trainer.__main__ import main

    out, _ = s3_out
    if ray.is_initialized():  # an earlier test module's driver connection
        ray.shutdown()
    flags = [
        "train", "--out", out, "--steps", "6", "--preset", "tiny",
        "--set", f"train.cache_dir={tmp_path / 'cache'}", "--set", "train.micro_batch=2",
        "--set", "train.log_every=1", "--set", "train.eval_every=6", "--set", "train.eval_windows=2",
        "--set", "train.warmup_steps=1", "--set", "train.threads=1", "--set", "train.max_failures=0",
    ]  # fmt: skip
    try:
        assert main([*flags, "--stop-after", "3"]) == 0
        head = read_metrics(out, "main")
        assert [m["step"] for m in head] == [1, 2, 3]
        assert main(flags) == 0  # the same run name: resumed from the step-3 checkpoint on the store
    finally:
        ray.shutdown()

    run = read_metrics(out, "main")
    assert [m["step"] for m in run] == [1, 2, 3, 4, 5, 6]
    assert run[:3] == head  # kept byte for byte: a restart from step 0 would have rewritten them
    intact, damaged = checkpoint.newest_intact(layout.run_dir(layout.train_dir(out), "main"))
    assert damaged == [] and isinstance(intact, storage.ObjectPath)
    assert checkpoint.read_meta(intact)["step"] == 6
    assert checkpoint.read_meta(intact)["shards_dir"] == f"{out}/shards"
    keys = s3_server.keys(str(layout.train_dir(out)))
    assert "pre_decay/main/meta.json" in keys
    assert layout.folder_lock_path(".").name not in keys  # the training's lease on OUT/train released


@pytest.mark.parametrize("command", [["fit-mixture", "--out"], ["ablate", "--runs", "runs/a", "--out"]])
def test_commands_other_than_train_refuse_an_object_store_in_one_line(command, s3_bucket, capsys):
    from trainer.__main__ import main

    assert main([*command, f"{s3_bucket}/run"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        f"FAILED: {s3_bucket}/run: `{command[0]}` needs local run folders (only `train` takes an object store)"
    ]


RANK_TIMEOUT_S = 240  # two CPU ranks, two tiny runs: ~30 s on a quiet machine; a hang never ends


def test_two_ranks_upload_their_checkpoint_files_and_resume_from_the_store(s3_out, tmp_path):
    """Each rank uploads its own files, rank 0 the meta.json once all are up; both download to resume."""
    from trainer import checkpoint
    from trainer.local import run_ranks

    out, _ = s3_out
    common = dict(grad_accum=1, ckpt_every=2, stop_after=None)
    first = _local_config(out, tmp_path / "cache", "dist", log_every=2, **{**common, "stop_after": 2})
    second = _local_config(
        out, tmp_path / "cache", "dist", log_every=1, **common
    )  # the log interval may change

    outcomes = run_ranks([first, second], 2, timeout_s=RANK_TIMEOUT_S, backend="gloo")

    assert all("metrics" in rank for run in outcomes for rank in run), outcomes
    # resumed at step 2 (logged every 2 steps before, every step after): a restart would have logged 1..4
    assert [m["step"] for m in read_metrics(out, "dist")] == [2, 3, 4]
    train = layout.train_dir(out)
    for step in (2, 3, 4):
        stored = layout.step_checkpoint_dir(train, "dist", step)
        assert checkpoint.verify(stored) is None
        assert checkpoint.read_meta(stored)["world_size"] == 2
    assert checkpoint.verify(layout.pre_decay_dir(train, "dist")) is None
    assert {"dist/checkpoint_000004/files/rank0.json", "dist/checkpoint_000004/files/rank1.json"} <= set(
        s3_server.keys(str(train))
    )
