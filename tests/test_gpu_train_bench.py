"""`bash bench/gpu_train.sh OUT --dry-run`: the GPU benchmark's whole path (shards, one-rank run, FSDP2 run on a
process group, JSON with MFU table) on CPU with the tiny preset and 2 steps per phase."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_train_dry_run_writes_the_result(tmp_path):
    env = {"PYTHON": sys.executable, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(
        ["bash", str(ROOT / "bench" / "gpu_train.sh"), str(tmp_path / "bench"), "--dry-run"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads((tmp_path / "bench" / "gpu_train.json").read_text())
    assert result["dry_run"] and result["peak_flops_table"]["H100"] == 989.4e12
    for phase in ("single", "fsdp"):
        stats = result["phases"][phase]
        assert stats["steps"] == 2 and [s for s, _ in stats["loss_curve"]] == [1, 2]
        assert stats["tokens_per_s"] > 0 and stats["peak_mem_gib"] > 0 and stats["final_val_loss"] > 0
    assert result["phases"]["fsdp"]["fsdp"] and not result["phases"]["single"]["fsdp"]
