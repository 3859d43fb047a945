"""GPU training benchmark: the `124m` preset with bf16 and per-block torch.compile on one GPU, then FSDP2
across every GPU of the machine; tokens/s, MFU, peak memory and the loss curve -> OUT/gpu_train.json.

    bash bench/gpu_train.sh OUT              # CUDA machine; about 3 minutes on one H100/H200 (mostly compile)
    bash bench/gpu_train.sh OUT --dry-run    # CPU: the same code path with the tiny preset, 2 steps (make test)

Data: synthetic shards (trainer/demo_shards.py) with a GPT-2-sized vocabulary (50257 ids, padded to 50304),
so the numbers measure the trainer, not a tokenizer. Tokens/s is the median of the metric lines after the
first two (which pay for compilation); MFU = 6N + attention FLOPs per token (trainer/model.py) x tokens/s
over the summed dense bf16 peaks of trainer/metrics.py's PEAK_FLOPS (written into the JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline.config import load_config
from trainer.demo_shards import write_demo_shards
from trainer.local import free_port, run_rank, run_ranks
from trainer.metrics import PEAK_FLOPS, device_peak_flops
from trainer.train import loop_config, read_metrics

GPU = dict(
    preset="124m",
    vocab=50257,
    docs=600,
    doc_len=(500, 2000),
    steps=300,
    micro_batch=16,
    seq_len=1024,
    log_every=20,
)
DRY = dict(
    preset="tiny", vocab=512, docs=40, doc_len=(20, 200), steps=2, micro_batch=1, seq_len=64, log_every=1
)
WARMUP_LINES = 2  # metric lines excluded from the median: the first steps compile the blocks


def phase_config(out: Path, name: str, shape: dict, fsdp: str) -> dict:
    return loop_config(
        load_config()["train"],
        out,
        name,
        preset=shape["preset"],
        seq_len=shape["seq_len"],
        micro_batch=shape["micro_batch"],
        grad_accum=1,
        steps=shape["steps"],
        warmup_steps=min(20, shape["steps"]),
        decay_fraction=0.0,  # no anneal: the whole run is one steady phase
        log_every=shape["log_every"],
        eval_every=shape["steps"],
        eval_windows=4,
        ckpt_every=shape["steps"],  # one checkpoint, after the last metric line
        max_epochs=1000.0,  # synthetic data: repeats cost nothing and keep the shards small
        compile=True,
        fsdp=fsdp,
    )


def run_phase(config: dict, world: int) -> float:
    """Train on `world` ranks (1: in this process); returns the wall seconds."""
    start = time.perf_counter()
    if world > 1:
        results = run_ranks([config], world, timeout_s=600)[0]
        failed = [r["error"] for r in results if "error" in r]
        if failed:
            raise RuntimeError(failed[0])
    else:  # FSDP2 still needs a process group, of one rank
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        init = f"tcp://127.0.0.1:{free_port()}"
        fsdp = config["fsdp"] == "on"
        if fsdp:
            dist.init_process_group(backend, init_method=init, rank=0, world_size=1)
        try:
            run_rank(config)
        finally:
            if fsdp:
                dist.destroy_process_group()
    return time.perf_counter() - start


def summarize(out: Path, name: str, world: int, wall_s: float) -> dict:
    lines = [m for m in read_metrics(out, name)]
    steady = lines[WARMUP_LINES:] or lines[-1:]
    tokens_per_s = statistics.median(m["tokens_per_s"] for m in steady)
    mfus = [m["mfu"] for m in steady if m["mfu"] is not None]
    return {
        "ranks": world,
        "steps": lines[-1]["step"],
        "tokens_per_step": lines[-1]["tokens"] // lines[-1]["step"],
        "tokens_per_s": tokens_per_s,
        "tokens_per_s_per_device": tokens_per_s / world,
        "mfu": statistics.median(mfus) if mfus else None,
        "peak_mem_gib": max(m["peak_mem_gib"] for m in lines),
        "data_wait_s": sum(m["data_wait_s"] for m in lines),
        "loss_curve": [[m["step"], m["train_loss"]] for m in lines],
        "final_val_loss": lines[-1].get("val_loss"),
        "wall_s": wall_s,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/gpu_train.py")
    p.add_argument("--out", required=True)
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny preset, 2 steps: check that it all runs")
    args = p.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --dry-run to check the benchmark on CPU")
    shape = DRY if args.dry_run else GPU
    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    if not (out / "shards" / "manifest.json").exists():
        write_demo_shards(
            out, vocab_size=shape["vocab"], docs_per_domain=shape["docs"], doc_len=shape["doc_len"]
        )
    gpus = torch.cuda.device_count()
    world = gpus if gpus else 1
    device = torch.device("cuda:0" if gpus else "cpu")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    phases = {}
    for phase, fsdp, ranks in (("single", "off", 1), ("fsdp", "on", world)):
        name = f"{phase}-{stamp}"
        wall_s = run_phase(phase_config(out, name, shape, fsdp), ranks)
        phases[phase] = {"fsdp": fsdp == "on", **summarize(out, name, ranks, wall_s)}
        print(
            f"{phase}: {json.dumps({k: v for k, v in phases[phase].items() if k != 'loss_curve'})}",
            flush=True,
        )
    result = {
        "benchmark": "gpu_train",
        "dry_run": args.dry_run,
        "device": torch.cuda.get_device_name(0) if gpus else "cpu",
        "gpus": gpus,
        "preset": shape["preset"],
        "seq_len": shape["seq_len"],
        "micro_batch": shape["micro_batch"],
        "precision": "bf16" if gpus else "fp32",
        "compile": bool(gpus),
        "peak_flops_used": device_peak_flops(device),
        "peak_flops_table": PEAK_FLOPS,
        "peak_flops_source": "NVIDIA H100 / H200 / A100 datasheets, dense BF16 tensor core (half the sparsity figure)",
        "torch": torch.__version__,
        "command": f"bash bench/gpu_train.sh {args.out}" + (" --dry-run" if args.dry_run else ""),
        "phases": phases,
    }
    (out / "gpu_train.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"-> {out / 'gpu_train.json'}")


if __name__ == "__main__":
    os.environ.setdefault(
        "TORCHINDUCTOR_CACHE_DIR", str(Path(os.environ.get("TMPDIR", "/tmp")) / "inductor-cache")
    )
    main()
