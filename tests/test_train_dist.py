"""Two real gloo ranks on CPU (torch.multiprocessing, a free port), tiny preset, a few steps.

- DDP and FSDP2 with validation windows that do not split evenly over the ranks finish, and their
  validation loss equals a one-rank evaluation of the same checkpoint (the padding windows weigh nothing);
- a rank that runs out of data stops every rank with the same message naming the sources;
- a 2-rank FSDP2 run checkpointed (DCP, sharded, written in the background) and resumed on 1 rank continues
  its loss trajectory; the tied embedding / output weight is stored once;
- a branch with a changed schedule is refused, naming the field;
- `init_from` + `replay` starts from the old weights, mixes old shards in and logs both validation sets.
Each multi-rank run is guarded by a timeout that fails the test (a hang is the bug these tests catch).
"""

import json

import numpy as np
import pytest
import torch
import torch.distributed.checkpoint as dcp

from pipeline.config import load_config
from trainer.data import MixtureDataset
from trainer.demo_shards import write_demo_shards
from trainer.local import latest_checkpoint, local_report, run_ranks
from trainer.train import loop_config, read_metrics
from trainer.train_loop import Trainer

RANK_TIMEOUT_S = 240  # two CPU ranks, two tiny runs: ~20 s on a quiet machine; a collective hang never ends
MICRO, EVAL_WINDOWS = 2, 5  # 5 windows over 2 ranks: 3 and 2, i.e. 2 and 1 forwards of 2 windows


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    path = tmp_path_factory.mktemp("dist")
    write_demo_shards(path, docs_per_domain=40, anneal_docs=1, val_docs=8)  # 1 hq doc: split by tokens
    return path


def config(out, name, **extra):
    settings = dict(
        steps=8, warmup_steps=2, decay_fraction=0.25, lr=3e-3, micro_batch=MICRO, grad_accum=1,
        eval_windows=EVAL_WINDOWS, log_every=2, eval_every=4, ckpt_every=4, threads=1, fsdp="off",
    )  # fmt: skip
    return loop_config(load_config()["train"], out, name, **{**settings, **extra})


def in_process(cfg, resume=None) -> Trainer:
    return Trainer(cfg, torch.device("cpu"), local_report(cfg["out_dir"], cfg["run_name"]), resume=resume)


def evaluate_alone(cfg, checkpoint_dir) -> dict:
    return in_process(cfg, resume=checkpoint_dir).evaluate()


def exhausting_config(out):
    """A DDP run one step longer than the shorter of its two data streams lasts at 1 epoch."""
    for seed in range(20):  # a seed whose two streams end at different batches: one rank runs out first
        streams = [
            MixtureDataset(
                out / "shards", seq_len=64, batch_size=MICRO, rank=s, world_size=2, max_epochs=1.0, seed=seed
            )
            for s in (0, 1)
        ]
        served = [sum(1 for _ in ds) for ds in streams]
        if served[0] != served[1]:
            break
    assert served[0] != served[1], served
    steps = min(served) + 1
    assert streams[0].budget_problem(steps) is None  # the start check (expected shares) lets it pass
    cfg = config(out, "ddp", steps=steps, seed=seed, max_epochs=1.0, eval_every=2, ckpt_every=2)
    cfg["decay_fraction"] = 0.0  # no anneal: the main mix runs out
    return cfg, min(served)


@pytest.fixture(scope="module")
def runs(out):
    """FSDP2 then DDP, in one pair of rank processes (starting them is the slow part)."""
    ddp_cfg, short = exhausting_config(out)
    fsdp_cfg = config(out, "fsdp", fsdp="on", ckpt_async=True)
    fsdp, ddp = run_ranks([fsdp_cfg, ddp_cfg], 2, timeout_s=RANK_TIMEOUT_S)
    return {"fsdp": fsdp, "ddp": ddp, "ddp_cfg": ddp_cfg, "short": short}


@pytest.fixture(scope="module")
def fsdp_run(runs):
    assert all("metrics" in r for r in runs["fsdp"]), runs["fsdp"]
    return runs["fsdp"]


def test_fsdp_uneven_eval_finishes_and_matches_one_rank(out, fsdp_run):
    final = [r["metrics"] for r in fsdp_run]
    assert final[0]["step"] == 8 and final[0]["val_loss"] == final[1]["val_loss"]
    alone = evaluate_alone(config(out, "check", grad_accum=2), latest_checkpoint(out / "train", "fsdp"))
    for domain in ("news", "forum", "reference"):
        assert abs(alone[f"val_loss/{domain}"] - final[0][f"val_loss/{domain}"]) < 1e-5
    assert {"grad_norm", "peak_mem_gib", "data_wait_s", "tokens_per_s_per_device"} <= set(final[0])


def test_fsdp_checkpoint_resumes_on_one_rank(out, fsdp_run):
    full = {m["step"]: m for m in read_metrics(out, "fsdp")}
    step4 = out / "train" / "fsdp" / "checkpoint_000004"
    assert sorted(p.name for p in step4.glob("*.distcp")) == ["__0_0.distcp", "__1_0.distcp"]  # sharded
    # one rank reads both data streams: 2 micro-batches per step keep the global batch of 2 ranks x 1
    cfg = config(out, "fsdp-on-1", grad_accum=2)
    resumed = in_process(cfg, resume=step4)
    assert resumed.step == 4 and resumed.streams == [0, 1]
    resumed.run()
    tail = {m["step"]: m for m in read_metrics(out, "fsdp-on-1")}
    assert sorted(tail) == [6, 8]
    for step in (6, 8):
        assert abs(tail[step]["train_loss"] - full[step]["train_loss"]) < 1e-4, (step, tail[step], full[step])
    assert abs(tail[8]["val_loss"] - full[8]["val_loss"]) < 1e-4
    assert tail[8]["train_loss"] < full[2]["train_loss"]


def test_tied_weight_is_stored_once(out, fsdp_run):
    """The embedding and the output projection share one weight: the checkpoint holds it once (DCP metadata),
    so the model's bytes are its parameters counted with the tie once, plus a small header per stored item."""
    step4 = out / "train" / "fsdp" / "checkpoint_000004"
    stored = dcp.FileSystemReader(str(step4)).read_metadata().storage_data
    model_items = [
        (index.fqn, info.length) for index, info in stored.items() if index.fqn.startswith("model.")
    ]
    assert not [fqn for fqn, _ in model_items if "lm_head" in fqn]
    assert [fqn for fqn, _ in model_items if "embed" in fqn] == [
        "model.embed.weight"
    ] * 2  # one shard per rank
    n_params = in_process(config(out, "check", grad_accum=2)).raw.num_params()  # the tied weight counted once
    header_bytes = sum(length for _, length in model_items) - 4 * n_params  # fp32
    assert 0 < header_bytes < 2048 * len(model_items), header_bytes  # the weight twice: +196 KB


def test_changed_branch_and_resume_are_refused(out, fsdp_run):
    pre_decay = out / "train" / "pre_decay" / "fsdp"
    with pytest.raises(ValueError, match="steps is 8 in the checkpoint but 10 now"):
        in_process(
            config(out, "branch", steps=10, grad_accum=2, branch_from_pre_decay="fsdp"), resume=pre_decay
        )
    with pytest.raises(ValueError, match="global_batch is 4 in the checkpoint but 2 now"):
        in_process(config(out, "branch", branch_from_pre_decay="fsdp"), resume=pre_decay)
    branch = in_process(config(out, "branch", grad_accum=2, hq_weight=0.9), resume=pre_decay)
    assert branch.step == 6  # the decay start of 8 steps with 25 % decay


def test_ddp_uneven_eval_and_exhaustion_agree_across_ranks(out, runs):
    cfg, short, results = runs["ddp_cfg"], runs["short"], runs["ddp"]
    errors = [r.get("error", "") for r in results]
    assert errors[0] == errors[1] and f"step {short}:" in errors[0], errors
    assert "train/forum, train/news, train/reference" in errors[0] and "epoch cap of 1" in errors[0]
    evals = [m for m in read_metrics(out, "ddp") if "val_loss" in m]
    assert evals, "no evaluation ran before the data ran out"
    first = out / "train" / "ddp" / f"checkpoint_{evals[0]['step']:06d}"
    alone = evaluate_alone({**cfg, "run_name": "check", "grad_accum": 2}, first)
    assert abs(alone["val_loss"] - evals[0]["val_loss"]) < 1e-5


def test_start_check_refuses_a_run_longer_than_the_data(out):
    with pytest.raises(ValueError, match=r"not enough data: .* train/news: "):
        in_process(config(out, "long", steps=100_000))


def test_init_from_with_replay_logs_old_and_new_validation(out, fsdp_run, tmp_path):
    new = tmp_path / "crawl2"
    write_demo_shards(new, {"news": 0.5, "code": 0.5}, docs_per_domain=40, seed=7)
    old_ckpt = latest_checkpoint(out / "train", "fsdp")
    cfg = config(new, "cont", init_from=str(old_ckpt), replay=0.3, steps=20, ckpt_every=20, eval_every=20)
    trainer = in_process(cfg)
    reference = in_process(config(out, "check", grad_accum=2), resume=old_ckpt)
    for (name, a), b in zip(trainer.raw.state_dict().items(), reference.raw.state_dict().values()):
        assert torch.equal(a, b), name  # the old weights ...
    assert trainer.step == 0 and not trainer.optimizer.state  # ... and a fresh optimizer, schedule, cursor
    final = trainer.run()
    assert {"val_loss/news", "val_loss/code", "val_loss/old/news", "val_loss/old/forum"} <= set(final)
    assert "val_loss_old" in final and "val_loss" in final
    pre_decay = new / "train" / "pre_decay" / "cont"  # step 15: the main mix, 1,950 tokens
    cursor = torch.load(pre_decay / "data" / "stream0.pt", weights_only=False)
    taken = cursor["stream"]["taken"]
    replayed = sum(v for k, v in taken.items() if k.startswith("replay/")) / sum(taken.values())
    assert abs(replayed - 0.3) < 0.1, taken
    lrs = [m["lr"] for m in read_metrics(new, "cont")]
    assert lrs[0] == pytest.approx(3e-3)  # re-warmed: step 2 of a 2-step warmup is at the peak again
    assert np.isclose(lrs[-1], 0.0)  # and decayed again


def test_time_based_checkpoints(out, tmp_path):
    cfg = config(
        out,
        "timed",
        steps=3,
        log_every=1,
        eval_every=100,
        ckpt_every=100,
        ckpt_every_min=1e-6,
        ckpt_async=False,
    )
    cfg["out_dir"] = str(tmp_path)
    in_process(cfg).run()  # every metric line finds the minute budget spent: a checkpoint at each step
    assert sorted(p.name for p in (tmp_path / "timed").iterdir()) == [
        f"checkpoint_00000{s}" for s in (1, 2, 3)
    ]
    lines = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in lines] == [1, 2, 3] and all(m["wall_s"] > 0 for m in lines)
