#!/usr/bin/env bash
# One-command GPU training benchmark (bench/gpu_train.py): 124m with bf16 + compile on one GPU, then FSDP2
# across all GPUs; writes OUTDIR/gpu_train.json.
#   bash bench/gpu_train.sh OUTDIR             # on a CUDA machine, with only the repository and its .venv
#   bash bench/gpu_train.sh OUTDIR --dry-run   # on CPU: builds everything and runs 2 steps per phase
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:?usage: bash bench/gpu_train.sh OUTDIR [--dry-run]}"
shift
PY="${PYTHON:-$ROOT/.venv/bin/python}"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export RAY_USAGE_STATS_ENABLED=0
exec "$PY" "$ROOT/bench/gpu_train.py" --out "$OUT" "$@"
