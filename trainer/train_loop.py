"""The per-worker training loop that Ray Train runs on every rank (engine-light: plain PyTorch inside).

One call of `train_loop_per_worker(config)`:
  1. builds the GPT and AdamW; wraps the model with DDP (`ray.train.torch.prepare_model`) or, for the large
     presets on CUDA, FSDP2 (`fully_shard` per block); bf16 autocast and `torch.compile` on CUDA only;
  2. resumes from `ray.train.get_checkpoint()` (the latest checkpoint of this run) or, for an anneal branch,
     from the kept pre-decay checkpoint;
  3. trains with the WSD schedule; the data stream switches to the anneal mix at the decay start;
  4. every `log_every` steps reports train loss, lr, phase, tokens/s and MFU (plus per-domain validation loss
     and perplexity every `eval_every` steps) through `ray.train.report` and to `metrics.jsonl`; every
     `ckpt_every` steps (and at the decay start, at `stop_after` and at the end) the report carries a
     checkpoint: model, optimizer, schedule step, data cursor and RNG state.
`config` is a plain dict (built by trainer/train.py from the `train:` config section and the CLI).
"""

from __future__ import annotations

import contextlib
import json
import math
import shutil
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist

from trainer.data import MixtureDataset, ShardLoader, load_manifest, validation_windows
from trainer.model import GPT, optimizer_param_groups, preset_config
from trainer.schedule import WSDSchedule

# Dense bf16 tensor-core peaks (vendor datasheets, without sparsity). CPU: no meaningful peak -> MFU null.
PEAK_FLOPS = {"H100 SXM": 989e12, "H100 PCIe": 756e12, "H200": 989e12, "A100": 312e12}
FSDP_PRESETS = ("350m", "1b")


def device_peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    if "H100" in name:
        return PEAK_FLOPS["H100 PCIe"] if "PCIe" in name else PEAK_FLOPS["H100 SXM"]
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


def _rank_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _all_reduce_sum(values: list[float], device: torch.device) -> list[float]:
    t = torch.tensor(values, dtype=torch.float64, device=device)
    if _rank_world()[1] > 1:
        dist.all_reduce(t)
    return t.tolist()


class Trainer:
    """State of one rank's training; `run()` is the loop. `report(metrics, checkpoint_dir)` is injected so the
    same loop runs under Ray (`ray.train.report`) and in tests/baselines without it."""

    def __init__(self, config: dict, device: torch.device, report, prepare_model=None):
        self.c, self.device, self.report = config, device, report
        self.rank, self.world = _rank_world()
        Path(config["out_dir"]).mkdir(parents=True, exist_ok=True)
        torch.manual_seed(config["seed"])  # identical initial weights on every rank
        if device.type == "cpu":
            torch.set_num_threads(config.get("threads") or torch.get_num_threads())
            torch.use_deterministic_algorithms(True)  # resumed runs reproduce losses exactly on CPU
        manifest = load_manifest(config["shards_dir"])
        self.model_cfg = preset_config(
            config["preset"], manifest["tokenizer"]["vocab_size"], seq_len=config.get("seq_len")
        )
        self.raw = GPT(self.model_cfg)
        self.n_params, self.flops_per_token = self.raw.num_params(), self.raw.flops_per_token()
        self.fsdp = device.type == "cuda" and (
            config.get("fsdp") == "on" or (config.get("fsdp") == "auto" and config["preset"] in FSDP_PRESETS)
        )
        self.model = self._wrap(prepare_model)
        self.optimizer = torch.optim.AdamW(
            optimizer_param_groups(self.raw, config["weight_decay"]),
            lr=config["lr"],
            betas=(config["beta1"], config["beta2"]),
            fused=device.type == "cuda",
        )
        self.schedule = WSDSchedule(
            total_steps=config["steps"],
            peak_lr=config["lr"],
            warmup_steps=config["warmup_steps"],
            decay_fraction=config["decay_fraction"],
            min_lr=config["lr"] * config["min_lr_frac"],
        )
        accum = config["grad_accum"]
        self.loader = ShardLoader(
            MixtureDataset(
                config["shards_dir"],
                seq_len=self.model_cfg.seq_len,
                batch_size=config["micro_batch"],
                rank=self.rank,
                world_size=self.world,
                num_workers=config["dataloader_workers"],
                seed=config["seed"],
                weights=config.get("weights"),
                hq_weight=config.get("hq_weight"),
                max_epochs=config.get("max_epochs"),
                anneal_start_batch=self.schedule.decay_start * accum,
            ),
            pin_memory=device.type == "cuda",
        )
        self.tokens_per_step = config["micro_batch"] * accum * self.model_cfg.seq_len * self.world
        self.val = validation_windows(config["shards_dir"], self.model_cfg.seq_len, config["eval_windows"])
        self.peak = device_peak_flops(device)
        self.step = 0
        self.autocast = (
            torch.autocast("cuda", dtype=torch.bfloat16)
            if device.type == "cuda" and not self.fsdp  # FSDP2 casts through its MixedPrecisionPolicy
            else contextlib.nullcontext()
        )

    # --- setup ------------------------------------------------------------------------------------------
    def _wrap(self, prepare_model):
        if self.fsdp:
            from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

            policy = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
            for block in self.raw.blocks:
                fully_shard(block, mp_policy=policy)
            fully_shard(self.raw, mp_policy=policy)  # moves the shards to this rank's GPU
            model = self.raw
        elif prepare_model is not None:
            model = prepare_model(self.raw)  # DDP when world > 1; moves to the worker's device
        else:
            model = self.raw.to(self.device)
        if self.device.type == "cuda" and self.c.get("compile", True):
            model = torch.compile(model)
        return model

    def _grad_sync(self, enabled: bool):
        """Gradients are all-reduced only on the last micro-batch of a step (gradient accumulation)."""
        if self.fsdp:
            self.raw.set_requires_gradient_sync(enabled)
            return contextlib.nullcontext()
        inner = getattr(self.model, "_orig_mod", self.model)  # under torch.compile
        if enabled or not hasattr(inner, "no_sync"):
            return contextlib.nullcontext()
        return inner.no_sync()  # DDP

    # --- checkpoints ------------------------------------------------------------------------------------
    def save(self, directory: Path) -> None:
        """Rank 0 writes model + optimizer + step; every rank writes its data cursor and RNG."""
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_state_dict

            opts = StateDictOptions(full_state_dict=True, cpu_offload=True)
            model_state, optim_state = get_state_dict(self.raw, self.optimizer, options=opts)
        else:
            model_state, optim_state = self.raw.state_dict(), self.optimizer.state_dict()
        if self.rank == 0:
            torch.save({"model": model_state, "optimizer": optim_state}, directory / "model.pt")
            meta = {"step": self.step, "run": self.c["run_name"], "model": self.raw.config_dict()}
            (directory / "meta.json").write_text(json.dumps(meta))
        rng = {"torch": torch.get_rng_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        torch.save({"data": self.loader.state_dict(), "rng": rng}, directory / f"rank{self.rank}.pt")

    def load(self, directory: Path) -> None:
        state = torch.load(directory / "model.pt", map_location="cpu", weights_only=False)
        if self.fsdp:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, set_state_dict

            opts = StateDictOptions(full_state_dict=True)
            set_state_dict(
                self.raw,
                self.optimizer,
                model_state_dict=state["model"],
                optim_state_dict=state["optimizer"],
                options=opts,
            )
        else:
            self.raw.load_state_dict(state["model"])
            self.optimizer.load_state_dict(state["optimizer"])
        self.step = json.loads((directory / "meta.json").read_text())["step"]
        mine = torch.load(directory / f"rank{self.rank}.pt", map_location="cpu", weights_only=False)
        self.loader.load_state_dict(mine["data"])
        torch.set_rng_state(mine["rng"]["torch"])
        if "cuda" in mine["rng"] and self.device.type == "cuda":
            torch.cuda.set_rng_state(mine["rng"]["cuda"], self.device)

    def keep_pre_decay(self, checkpoint_dir: Path) -> None:
        """Copy the checkpoint taken right before the decay to OUT/train/pre_decay (anneal branches start there)."""
        target = Path(self.c["out_dir"]) / "pre_decay"
        staging = target.with_name(f"pre_decay.tmp-{self.c['run_name']}")
        staging.mkdir(parents=True, exist_ok=True)
        for f in checkpoint_dir.iterdir():
            shutil.copy2(f, staging / f.name)
        if self.world > 1:
            dist.barrier()
        if self.rank == 0:
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)

    # --- evaluation -------------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict:
        self.model.eval()
        out = {}
        for domain, windows in self.val.items():
            mine = windows[self.rank :: self.world]
            total, count = 0.0, 0
            for i in range(0, len(mine), self.c["micro_batch"]):
                batch = mine[i : i + self.c["micro_batch"]].to(self.device)
                with self.autocast:
                    _, loss = self.model(batch[:, :-1], batch[:, 1:])
                total, count = total + loss.item() * batch[:, 1:].numel(), count + batch[:, 1:].numel()
            total, count = _all_reduce_sum([total, count], self.device)
            out[f"val_loss/{domain}"] = total / count
            out[f"val_ppl/{domain}"] = math.exp(min(total / count, 50.0))
        if out:
            losses = [v for k, v in out.items() if k.startswith("val_loss/")]
            out["val_loss"] = sum(losses) / len(losses)
        self.model.train()
        return out

    # --- the loop ---------------------------------------------------------------------------------------
    def train_step(self, batches) -> torch.Tensor:
        """One optimizer step over `grad_accum` micro-batches; returns the mean loss (on device, no sync)."""
        lr = self.schedule.lr(self.step)
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        accum, total = self.c["grad_accum"], torch.zeros((), device=self.device)
        for micro in range(accum):
            batch = next(batches).to(self.device, non_blocking=True)
            with self._grad_sync(micro == accum - 1), self.autocast:
                _, loss = self.model(batch[:, :-1], batch[:, 1:])
                (loss / accum).backward()
            total += loss.detach().float()
        if self.c["grad_clip"] > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.c["grad_clip"])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return total / accum

    def run(self) -> dict:
        c, start = self.c, self.step
        end = min(c["steps"], c.get("stop_after") or c["steps"])
        batches = iter(self.loader)
        last: dict = {}
        tick, tick_tokens, losses = time.perf_counter(), 0, []
        while self.step < end:
            phase, lr = self.schedule.phase(self.step), self.schedule.lr(self.step)
            try:
                losses.append(self.train_step(batches))
            except StopIteration:
                raise RuntimeError(
                    f"the data ran out at step {self.step}: every domain hit its epoch cap "
                    "(raise train.max_epochs, lower train.steps, or add data)"
                ) from None
            self.step += 1
            tick_tokens += self.tokens_per_step
            done = self.step == end
            pre_decay = self.step == self.schedule.decay_start and not c.get("branch_from")
            want_ckpt = done or pre_decay or self.step % c["ckpt_every"] == 0
            want_eval = done or self.step % c["eval_every"] == 0
            if not (want_ckpt or want_eval or self.step % c["log_every"] == 0):
                continue
            if self.device.type == "cuda":
                torch.cuda.synchronize()
            elapsed = time.perf_counter() - tick
            tokens_per_s = tick_tokens / elapsed
            (loss,) = _all_reduce_sum([torch.stack(losses).double().mean().item()], self.device)
            last = {
                "run": c["run_name"],
                "step": self.step,
                "tokens": self.step * self.tokens_per_step,
                "phase": phase,
                "lr": lr,
                "train_loss": loss / self.world,
                "tokens_per_s": tokens_per_s,
                "mfu": self.flops_per_token * tokens_per_s / (self.peak * self.world) if self.peak else None,
            }
            if want_eval:
                last.update(self.evaluate())
            self._log(last, resumed_from=start)
            self._report(last, want_ckpt, pre_decay)
            tick, tick_tokens, losses = time.perf_counter(), 0, []
        return last

    def _report(self, metrics: dict, checkpoint: bool, pre_decay: bool) -> None:
        if not checkpoint:
            self.report(metrics, None)
            return
        with tempfile.TemporaryDirectory(prefix="ckpt-") as tmp:
            self.save(Path(tmp))
            if pre_decay:
                self.keep_pre_decay(Path(tmp))
            self.report(metrics, Path(tmp))

    def _log(self, metrics: dict, resumed_from: int) -> None:
        if self.rank != 0:
            return
        path = Path(self.c["out_dir"]) / "metrics.jsonl"
        if not getattr(self, "_log_trimmed", False):
            # a rerun replays the steps after its checkpoint: drop this run's lines past it (no duplicates)
            if path.exists():
                keep = [
                    line
                    for line in path.read_text().splitlines()
                    if not ((m := json.loads(line))["run"] == self.c["run_name"] and m["step"] > resumed_from)
                ]
                path.write_text("".join(line + "\n" for line in keep))
            self._log_trimmed = True
        with path.open("a") as f:
            f.write(json.dumps(metrics) + "\n")
        val = f" val {metrics['val_loss']:.4f}" if "val_loss" in metrics else ""
        mfu = f" mfu {metrics['mfu']:.1%}" if metrics["mfu"] is not None else ""
        print(
            f"[{metrics['run']}] step {metrics['step']}/{self.c['steps']} {metrics['phase']:<6} "
            f"loss {metrics['train_loss']:.4f}{val} lr {metrics['lr']:.2e} "
            f"{metrics['tokens_per_s']:,.0f} tok/s{mfu}",
            flush=True,
        )


def train_loop_per_worker(config: dict) -> None:
    """Entry point for `ray.train.torch.TorchTrainer`."""
    import ray.train
    import ray.train.torch

    def report(metrics: dict, checkpoint_dir: Path | None) -> None:
        checkpoint = ray.train.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        ray.train.report(metrics, checkpoint=checkpoint)

    trainer = Trainer(config, ray.train.torch.get_device(), report, ray.train.torch.prepare_model)
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            trainer.load(Path(directory))
    elif config.get("branch_from"):
        trainer.load(Path(config["branch_from"]))
    trainer.run()
