"""Training metrics: the peak-FLOPS table behind MFU, peak memory, and the metrics.jsonl writer."""

from __future__ import annotations

import json
import resource

import torch

from pipeline import storage

# Dense bf16 tensor-core peak FLOP/s (no sparsity), from NVIDIA's datasheets: H100 SXM 989.4 TFLOPS,
# H100 PCIe 756 and H100 NVL 835 (H100 datasheet, "BF16 Tensor Core" halved: the table lists with-sparsity
# figures); H200 SXM 989 and H200 NVL 835 (H200 datasheet, likewise); A100 312 (A100 datasheet).
# Matched against torch.cuda.get_device_name() in this order. CPU: no meaningful peak, MFU is null.
PEAK_FLOPS = {
    "H100 PCIe": 756e12,
    "H100 NVL": 835e12,
    "H100": 989.4e12,  # SXM
    "H200 NVL": 835e12,
    "H200": 989.4e12,  # SXM
    "A100": 312e12,
}


def device_peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((peak for key, peak in PEAK_FLOPS.items() if key in name), None)


def peak_memory_gib(device: torch.device) -> float:
    """Peak CUDA memory allocated by this process; on CPU the peak resident set size."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def log_metrics(
    path: storage.Location, metrics: dict, total_steps: int, trim_after: int | None = None
) -> None:
    """Append one metric line to `path` (rank 0) and print it. With `trim_after` (the first line of a (re)started
    run), first drop this run's lines past that step: a rerun replays those steps, and the file keeps no
    duplicates.

    An object store cannot append: there the file is read, extended and written back as one object at each
    line. Readers (`read_metrics`, notebooks) keep reading one file, and each write replaces it whole, so a
    reader never sees a torn line; the cost is a GET and a PUT of the file (kilobytes to a few MB) per
    logged line, small next to `log_every` training steps."""
    line = json.dumps(metrics) + "\n"
    if trim_after is None and not storage.is_remote(path):
        with path.open("a") as f:
            f.write(line)
    else:
        lines = path.read_text().splitlines() if path.exists() else []
        if trim_after is not None:
            run = metrics["run"]
            lines = [
                text
                for text in lines
                if not ((m := json.loads(text))["run"] == run and m["step"] > trim_after)
            ]
        path.write_text("".join(text + "\n" for text in lines) + line)
    val = f" val {metrics['val_loss']:.4f}" if "val_loss" in metrics else ""
    mfu = f" mfu {metrics['mfu']:.1%}" if metrics["mfu"] is not None else ""
    print(
        f"[{metrics['run']}] step {metrics['step']}/{total_steps} {metrics['phase']:<6} "
        f"loss {metrics['train_loss']:.4f}{val} lr {metrics['lr']:.2e} "
        f"{metrics['tokens_per_s']:,.0f} tok/s{mfu} gnorm {metrics['grad_norm']:.2f}",
        flush=True,
    )
