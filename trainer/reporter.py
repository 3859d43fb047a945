"""Hands the training loop's metric lines and checkpoints to `report` (Ray's or trainer/local.py's), in step
order, while checkpoints are written in the background.

A checkpoint is started (trainer/checkpoint.py `start_save`: the state is copied to CPU memory, then written
by a background thread) and training goes on. Ray copies a reported checkpoint into its storage at once and
may resume from it after a failure, so a checkpoint is reported only when complete: its write has finished
on every rank and meta.json is written. Until then the metric lines that follow it wait in a queue (Ray's
metric history stays in step order; OUT/train/metrics.jsonl is written by the loop at once). At each line
the ranks agree, with one small all-reduce, whether every rank's write has finished; the next checkpoint,
an agreed stop and the end of the run wait for it. Only copying the state to CPU memory, and a write still
running when the next checkpoint is due, block training; `blocked_s` counts that time, in both modes.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline import storage
from trainer import checkpoint
from trainer.checkpoint import PendingSave


class Reporter:
    def __init__(self, report, *, rank: int, world: int, group=None, asynchronous: bool = True):
        self.report, self.rank, self.world, self.group = report, rank, world, group
        self.asynchronous = asynchronous
        self.pending: PendingSave | None = None
        # (metrics, checkpoint, where a copy of it is kept)
        self.queue: list[tuple[dict, Path | None, storage.Location | None]] = []
        self.blocked_s = 0.0

    def line(self, metrics: dict) -> None:
        """A metric line without a checkpoint."""
        if self.pending is not None and not self._all_written():
            self.queue.append((metrics, None, None))
            return
        self.flush()
        self.report(metrics, None)

    def checkpoint(
        self, metrics: dict, start: Callable[[Path], PendingSave], keep_as: storage.Location | None
    ) -> None:
        """A metric line with a checkpoint, which `start(directory)` begins writing; `keep_as`: where a copy
        of it is kept (the pre-decay checkpoint)."""
        began = time.perf_counter()
        self.flush()  # the previous checkpoint first: one write at a time
        directory = Path(tempfile.mkdtemp(prefix="ckpt-"))
        self.pending = start(directory)
        self.queue.append((metrics, directory, keep_as))
        if not self.asynchronous:
            self.flush()
        self.blocked_s += time.perf_counter() - began

    def flush(self) -> None:
        """Wait for the checkpoint being written, then report it and the lines queued behind it."""
        if self.pending is None:
            return
        began = time.perf_counter()
        self.pending.finish()
        self.pending = None
        for metrics, directory, keep_as in self.queue:
            if keep_as is not None:
                self._keep_copy(directory, keep_as)
            self.report(metrics, directory)
            if directory is not None:
                shutil.rmtree(directory, ignore_errors=True)
        self.queue = []
        self.blocked_s += time.perf_counter() - began

    def _all_written(self) -> bool:
        done = torch.tensor([1 if self.pending.done() else 0])
        if self.world > 1:  # every rank reports at the same lines, so all must see their write finished
            dist.all_reduce(done, op=dist.ReduceOp.MIN, group=self.group)
        return bool(done.item())

    def _keep_copy(self, directory: Path, target: storage.Location) -> None:
        """Copy a complete checkpoint to `target` (each rank adds its files; replaced as a whole, or on an
        object store uploaded with meta.json last)."""
        if storage.is_remote(target):
            checkpoint.publish(directory, target, rank=self.rank, barrier=self._barrier)
            return
        staging = target.with_name(f"{target.name}.tmp")
        if self.rank == 0:
            shutil.rmtree(staging, ignore_errors=True)
        self._barrier()
        shutil.copytree(directory, staging, dirs_exist_ok=True)
        self._barrier()
        if self.rank == 0:
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)

    def _barrier(self) -> None:
        if self.world > 1:
            dist.barrier(group=self.group)
