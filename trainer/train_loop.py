"""The per-rank training loop (plain PyTorch; Ray Train or trainer/local.py starts the ranks).

One `Trainer(config, device, report, resume=...)`:
  1. builds the GPT and AdamW. Several ranks: DDP (no buffer broadcasts: the only buffers are the RoPE
     tables, computed identically everywhere) or FSDP2 (`fully_shard` per block, the model built on the
     meta device and materialised shard by shard). On CUDA: bf16 and `torch.compile` per block, before
     sharding (torchtitan's order: a whole-model compile breaks its graph at every FSDP hook);
  2. resumes from a checkpoint (Ray's latest, or an anneal branch's pre-decay one) after checking that the
     run's settings agree (trainer/checkpoint.py), or, for continual pretraining (`init_from`), loads only
     the weights and starts a fresh schedule, optimizer and data cursor;
  3. reads the data as `data_streams` logical streams (the world size when the run started); each rank
     reads `data_streams / world` of them, `grad_accum` micro-batches in all per step, so the global batch
     and the data stay the same when a run resumes on another world size;
  4. trains with the WSD schedule (the data switches to the anneal mix at the decay start). Every step the
     ranks agree on whether each still has data (a CPU all-reduce), so running out stops all ranks with
     one message naming the sources, never a rank waiting in a collective;
  5. every `log_every` steps reports loss, lr, wall-clock tokens/s (eval and checkpoint time included),
     MFU, grad norm, peak memory and data-wait time (plus per-domain validation loss every `eval_every`
     steps, trainer/evaluate.py); it checkpoints every `ckpt_every` steps or `ckpt_every_min` minutes, at
     the decay start (kept as OUT/train/pre_decay/<run>), at `stop_after` and at the end. Checkpoints are written in the
     background while training goes on (`ckpt_async`) and reported once complete (trainer/reporter.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from pipeline import layout, storage
from pipeline.settings import TrainSettings
from trainer import checkpoint
from trainer.data import MixtureDataset, ShardLoader, load_manifest, validation_windows
from trainer.evaluate import OLD_VAL_PREFIX, validation_losses
from trainer.metrics import device_peak_flops, log_metrics, peak_memory_gib
from trainer.model import GPT, optimizer_param_groups, preset_config
from trainer.reporter import Reporter
from trainer.schedule import WSDSchedule
from trainer.shard_cache import local_shards

FSDP_PRESETS = ("350m", "1b")


@dataclass(frozen=True)
class Run:
    """What one training reads and writes besides its `train:` settings (`trainer.train.loop_config` puts
    both in the one dict a worker receives)."""

    shards_dir: str
    out_dir: str
    run_name: str
    weights: dict | None  # the mixture to train on instead of the manifest's (a proxy run)
    stop_after: int | None  # checkpoint and stop after this step
    branch_from: str | None  # the pre-decay checkpoint an anneal branch continues
    init_from: str | None  # continual pretraining: the checkpoint whose weights start the run
    cache_token: str | None  # set by the launcher once it has staged the shards (trainer/shard_cache.py)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Run:
        return cls(**{field.name: config.get(field.name) for field in dataclasses.fields(cls)})


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


class Trainer:
    """State of one rank's training; `run()` is the loop. `config` is `trainer.train.loop_config`'s dict: its
    `train:` keys are read as `self.t` (TrainSettings), the rest as `self.spec` (Run). `report(metrics,
    checkpoint_dir)` is injected so the same loop runs under Ray (`ray.train.report`) and in-process
    (trainer/local.py)."""

    def __init__(self, config: dict, device: torch.device, report, resume: str | Path | None = None):
        t = self.t = TrainSettings.from_section(config)
        spec = self.spec = Run.from_config(config)
        self.device, self.report = device, report
        self.rank, self.world = _rank_world()
        storage.path(spec.out_dir).mkdir(parents=True, exist_ok=True)
        torch.manual_seed(t.seed)  # identical initial weights on every rank
        if device.type == "cpu":
            torch.set_num_threads(t.threads or torch.get_num_threads())
            torch.use_deterministic_algorithms(True)  # resumed runs reproduce losses exactly on CPU
        # where the shards are read from: in place, or a verified local copy of shards on an object store
        self.shards = local_shards(spec.shards_dir, t.cache_dir, spec.cache_token)
        manifest = load_manifest(self.shards)
        self.model_cfg = preset_config(t.preset, manifest["tokenizer"]["vocab_size"], seq_len=t.seq_len)
        self.schedule = WSDSchedule(
            total_steps=t.steps,
            peak_lr=t.lr,
            warmup_steps=t.warmup_steps,
            decay_fraction=t.decay_fraction,
            min_lr=t.lr * t.min_lr_frac,
        )
        self.resume = storage.path(resume) if resume else None
        saved = checkpoint.read_meta(self.resume) if self.resume else None
        init_meta = checkpoint.read_meta(spec.init_from) if spec.init_from else None
        # the continued run's shards (replayed, and validated on), read like this run's
        old_shards = init_meta and local_shards(init_meta["shards_dir"], t.cache_dir, spec.cache_token)
        self.replay = None
        if init_meta and t.replay:
            self.replay = {"shards_dir": old_shards, "fraction": t.replay}
        self.data_streams = saved["data_streams"] if saved else self.world
        self.meta = self._settings(manifest, init_meta)
        if saved:  # the global batch is kept, so each rank's grad_accum covers whole data streams
            checkpoint.check_same_run(saved, self.meta, f"resuming from {self.resume}")
        if init_meta and init_meta["model"] != self.meta["model"]:
            raise ValueError(
                f"init_from {spec.init_from}: model is {init_meta['model']} there, {self.meta['model']} now"
            )

        self.fsdp = (
            dist.is_available()
            and dist.is_initialized()
            and (t.fsdp == "on" or (t.fsdp == "auto" and device.type == "cuda" and t.preset in FSDP_PRESETS))
        )
        self.raw, self.model = self._build_model()
        self.n_params, self.flops_per_token = self.raw.num_params(), self.raw.flops_per_token()
        self.optimizer = torch.optim.AdamW(
            optimizer_param_groups(self.raw, t.weight_decay),
            lr=t.lr,
            betas=(t.beta1, t.beta2),
            fused=device.type == "cuda",
        )
        # logical data streams of this rank, and micro-batches per stream per step
        self.streams = list(range(self.rank, self.data_streams, self.world))
        self.accum_per_stream = (
            t.micro_batch * t.grad_accum * self.world // (t.micro_batch * self.data_streams)
        )
        self.loaders = {s: self._loader(s) for s in self.streams}
        problem = self.loaders[self.streams[0]].dataset.budget_problem(t.steps * self.accum_per_stream)
        if problem:  # every rank computes the same answer from the manifest: all stop together
            raise ValueError(problem)
        self.tokens_per_step = self.meta["global_batch"] * self.model_cfg.seq_len
        self.val = validation_windows(self.shards, self.model_cfg.seq_len, t.eval_windows)
        if init_meta:  # forgetting is measured on the old run's validation shards
            old = validation_windows(old_shards, self.model_cfg.seq_len, t.eval_windows)
            self.val.update({OLD_VAL_PREFIX + d: w for d, w in old.items()})
        self.peak = device_peak_flops(device)
        self.step = 0
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda" and not self.fsdp  # FSDP2 casts through its MixedPrecisionPolicy
            else contextlib.nullcontext()
        )
        # the per-step "still have data" vote runs on CPU tensors: a gloo group when the default is NCCL
        nccl = self.world > 1 and dist.get_backend() != "gloo"
        self.cpu_group = dist.new_group(backend="gloo") if nccl else None
        # background checkpoint writes run their collectives on a gloo group of their own (DCP's async save
        # needs a CPU backend, also for one NCCL rank; sharing a group with training would interleave the two
        # threads' collectives)
        distributed = dist.is_available() and dist.is_initialized()
        self.ckpt_group = dist.new_group(backend="gloo") if distributed else None
        self.reporter = Reporter(
            report, rank=self.rank, world=self.world, group=self.cpu_group, asynchronous=t.ckpt_async
        )
        with checkpoint.download_area(t.cache_dir) as scratch:
            if self.resume:  # a checkpoint on an object store is read from a local download
                self._load(checkpoint.fetch(self.resume, scratch))
            elif init_meta:  # weights only: fresh optimizer, step, cursor
                checkpoint.load(checkpoint.fetch(spec.init_from, scratch), self.raw)

    # --- setup ------------------------------------------------------------------------------------------
    def _settings(self, manifest: dict, init_meta: dict | None) -> dict:
        t, spec = self.t, self.spec
        return {
            **{k: getattr(t, k) for k in checkpoint.TRAIN_FIELDS},
            "weights": spec.weights,
            "seq_len": self.model_cfg.seq_len,
            "vocab_size": self.model_cfg.vocab_size,
            "global_batch": t.micro_batch * t.grad_accum * self.world,
            "grad_accum": t.grad_accum,
            "world_size": self.world,
            "data_streams": self.data_streams,
            "replay": self.replay and {"fraction": self.replay["fraction"], "from": init_meta["run"]},
            "init_from": spec.init_from,
            "shards_sha256": checkpoint.shards_sha256(manifest),
            "shards_dir": str(storage.path(spec.shards_dir).resolve()),  # a URI stays a URI
            "run": spec.run_name,
            "model": {k: v for k, v in vars(self.model_cfg).items()},
        }

    def _build_model(self) -> tuple[GPT, torch.nn.Module]:
        compile_blocks = self.device.type == "cuda" and self.t.compile
        if not self.fsdp:
            raw = GPT(self.model_cfg).to(self.device)
            if compile_blocks:
                for block in raw.blocks:
                    block.compile()
            if self.world == 1:
                return raw, raw
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            return raw, DistributedDataParallel(raw, device_ids=ids, forward_sync_buffers=False)
        from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

        with torch.device("meta"):  # no rank ever holds the full unsharded model
            raw = GPT(self.model_cfg)
        mixed = self.device.type == "cuda"
        policy = MixedPrecisionPolicy(
            param_dtype=torch.bfloat16 if mixed else None, reduce_dtype=torch.float32
        )
        for block in raw.blocks:
            if compile_blocks:
                block.compile()
            fully_shard(block, mp_policy=policy)
        fully_shard(raw, mp_policy=policy)
        raw.to_empty(device=self.device)
        raw.init_weights()
        return raw, raw

    def _loader(self, stream: int) -> ShardLoader:
        t = self.t
        return ShardLoader(
            MixtureDataset(
                self.shards,
                seq_len=self.model_cfg.seq_len,
                batch_size=t.micro_batch,
                rank=stream,
                world_size=self.data_streams,
                num_workers=t.dataloader_workers,
                seed=t.seed,
                weights=self.spec.weights,
                hq_weight=t.hq_weight,
                max_epochs=t.max_epochs,
                anneal_start_batch=self.schedule.decay_start * self.accum_per_stream,
                replay=self.replay,
            ),
            pin_memory=self.device.type == "cuda",
        )

    def _grad_sync(self, enabled: bool):
        """Gradients are reduced only on the last micro-batch of a step (gradient accumulation)."""
        if self.fsdp:
            self.raw.set_requires_gradient_sync(enabled)
            return contextlib.nullcontext()
        if enabled or self.world == 1:
            return contextlib.nullcontext()
        return self.model.no_sync()  # DDP

    # --- checkpoints ------------------------------------------------------------------------------------
    def save(self, directory: Path) -> checkpoint.PendingSave:
        """Start writing this step's checkpoint into `directory` (complete once `finish()`ed)."""
        meta = {**self.meta, "step": self.step}
        cursors = {s: loader.state_dict() for s, loader in self.loaders.items()}
        return checkpoint.start_save(
            directory, self.raw, self.optimizer, rank=self.rank, meta=meta, cursors=cursors,
            asynchronous=self.t.ckpt_async, group=self.ckpt_group,
        )  # fmt: skip

    def _load(self, directory: Path) -> None:
        checkpoint.load(directory, self.raw, self.optimizer)
        self.step = checkpoint.read_meta(directory)["step"]
        for stream, loader in self.loaders.items():
            loader.load_state_dict(checkpoint.load_cursor(directory, stream))
        checkpoint.load_rng(directory, self.rank)

    # --- evaluation -------------------------------------------------------------------------------------
    def evaluate(self) -> dict:
        return validation_losses(
            self.model, self.val, micro_batch=self.t.micro_batch, rank=self.rank, world=self.world,
            device=self.device, autocast=self.autocast,
        )  # fmt: skip

    # --- the loop ---------------------------------------------------------------------------------------
    def next_batches(self, iterators: dict) -> list[torch.Tensor]:
        """This step's micro-batches of every stream of this rank, once all ranks agree that all have them."""
        batches, missing = [], None
        for stream, it in iterators.items():
            for _ in range(self.accum_per_stream):
                batch = next(it, None)
                if batch is None:
                    loader = self.loaders[stream]
                    missing = loader.dataset.exhausted_message(loader.batches)
                    break
                batches.append(batch)
            if missing:
                break
        if self.world > 1:
            ok = torch.tensor([0 if missing else 1])
            dist.all_reduce(ok, op=dist.ReduceOp.MIN, group=self.cpu_group)
            if ok.item() == 0:
                messages = [None] * self.world
                dist.all_gather_object(messages, missing, group=self.cpu_group)
                missing = next(m for m in messages if m)
        if missing:  # all ranks stop here together: the checkpoint being written is completed and reported
            self.reporter.flush()
            raise RuntimeError(f"step {self.step}: {missing}")
        return batches

    def train_step(self, batches: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """One optimizer step over this rank's micro-batches; returns (mean loss, grad norm), on device."""
        lr = self.schedule.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        total = torch.zeros((), device=self.device)
        for i, batch in enumerate(batches):
            batch = batch.to(self.device, non_blocking=True)
            with self._grad_sync(i == len(batches) - 1), self.autocast:
                _, loss = self.model(batch[:, :-1], batch[:, 1:])
                (loss / len(batches)).backward()
            total += loss.detach().float()
        clip = self.t.grad_clip if self.t.grad_clip > 0 else float("inf")
        norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / len(batches), norm

    def run(self) -> dict:
        t, spec, start = self.t, self.spec, self.step
        end = min(t.steps, spec.stop_after or t.steps)
        iterators = {s: iter(loader) for s, loader in self.loaders.items()}
        last: dict = {}
        began = tick = last_ckpt = time.perf_counter()
        tick_tokens, losses, data_wait, norm, lines_logged = 0, [], 0.0, None, 0
        while self.step < end:
            phase, lr = self.schedule.phase(self.step), self.schedule.lr(self.step)
            waited = time.perf_counter()
            batches = self.next_batches(iterators)
            data_wait += time.perf_counter() - waited
            loss, norm = self.train_step(batches)
            losses.append(loss)
            self.step += 1
            tick_tokens += self.tokens_per_step
            done = self.step == end
            pre_decay = self.step == self.schedule.decay_start and not spec.branch_from
            want_ckpt = done or pre_decay or self.step % t.ckpt_every == 0
            want_eval = done or self.step % t.eval_every == 0
            if not (want_ckpt or want_eval or self.step % t.log_every == 0):
                continue
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            now = time.perf_counter()
            elapsed, tick = now - tick, now  # includes the last line's eval and checkpoint time
            due = bool(t.ckpt_every_min) and now - last_ckpt >= 60 * t.ckpt_every_min
            mean_loss = torch.stack(losses).double().mean().item()
            loss_sum, wait_sum, due_votes = self._all_reduce([mean_loss, data_wait, float(due)])
            want_ckpt = want_ckpt or due_votes > 0  # the ranks agree: any rank's clock says it is time
            tokens_per_s = tick_tokens / elapsed
            grad_norm = norm.full_tensor() if hasattr(norm, "full_tensor") else norm
            last = {
                "run": spec.run_name,
                "step": self.step,
                "tokens": self.step * self.tokens_per_step,
                "phase": phase,
                "lr": lr,
                "train_loss": loss_sum / self.world,
                "grad_norm": float(grad_norm),
                "tokens_per_s": tokens_per_s,
                "tokens_per_s_per_device": tokens_per_s / self.world,
                "mfu": self.flops_per_token * tokens_per_s / (self.peak * self.world) if self.peak else None,
                "data_wait_s": wait_sum / self.world,
                "peak_mem_gib": peak_memory_gib(self.device),
                "wall_s": now - began,
                "ckpt_blocked_s": self.reporter.blocked_s,  # training time spent on checkpoints so far
            }
            if want_eval:
                last.update(self.evaluate())
            if self.rank == 0:  # the first line of this (re)start trims the lines a rerun replays
                trim_after = start if not lines_logged else None
                log_metrics(layout.metrics_path(spec.out_dir), last, t.steps, trim_after)
            lines_logged += 1
            if want_ckpt:
                keep_as = layout.pre_decay_dir(spec.out_dir, spec.run_name) if pre_decay else None
                self.reporter.checkpoint(last, self.save, keep_as)
                last_ckpt = time.perf_counter()
            else:
                self.reporter.line(last)
            tick_tokens, losses, data_wait = 0, [], 0.0
        self.reporter.flush()  # the run ends with its last checkpoint complete and reported
        return last

    def _all_reduce(self, values: list[float]) -> list[float]:
        t = torch.tensor(values, dtype=torch.float64, device=self.device)
        if self.world > 1:
            dist.all_reduce(t)
        return t.tolist()


def train_loop_per_worker(config: dict) -> None:
    """Entry point for `ray.train.torch.TorchTrainer`."""
    import ray.train
    import ray.train.torch

    def report(metrics: dict, checkpoint_dir: Path | None) -> None:
        ckpt = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=ckpt)

    device, spec = ray.train.torch.get_device(), Run.from_config(config)
    resume = spec.branch_from
    with checkpoint.download_area(config["cache_dir"]) as scratch:
        if ray.train.get_checkpoint():  # this run's own checkpoints win over the branch point
            # Ray hands back its latest, which may be damaged since: the newest one that verifies instead
            run_dir = layout.run_dir(spec.out_dir, spec.run_name)
            resume, damaged = checkpoint.newest_intact(run_dir, fetch_into=scratch)
            if resume is None:
                raise RuntimeError(f"no checkpoint of {spec.run_name} verifies: {damaged}")
        trainer = Trainer(config, device, report, resume=resume)
    trainer.run()
