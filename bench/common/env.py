"""Where the benchmarks read, write and which interpreters they start: each spelled once."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"  # the real third-party data (read-only)
OUT = REPO / "bench" / "out"  # scratch of the benchmarks (ignored by git)
RESULTS = REPO / "bench" / "results"  # the committed result files BENCHMARKS.md is rendered from
PY_OURS = REPO / ".venv" / "bin" / "python"
PY_PEER = REPO / ".venv-bench" / "bin" / "python"  # datatrove, resiliparse, HF tokenizers (`make bench-env`)


def pinned(cores: int) -> list[str]:
    """The prefix that runs a command on the first `cores` CPUs only (`taskset -c 0,1,...`)."""
    return ["taskset", "-c", ",".join(str(cpu) for cpu in range(cores))]


ONE_CORE = pinned(1)
