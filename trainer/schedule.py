"""Warmup-stable-decay (WSD) learning-rate schedule with the anneal phase at its end.

    warmup   steps [0, warmup_steps): linear ramp to the peak lr
    stable   constant peak lr, on the fitted mixture
    anneal   the last `decay_fraction` of the steps (default 20 %): lr falls from the peak to
             `min_lr` with the `1 - sqrt` shape, and the data stream switches to the anneal mix

The decay length and the `1 - sqrt` shape follow Hägele et al. 2024, "Scaling Laws and Compute-Optimal
Training Beyond Fixed Training Durations" (20 % cooldown with 1-sqrt matches a cosine schedule). Every step
consumes the same number of tokens, so "the last 20 % of tokens" and "the last 20 % of steps" coincide.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

WARMUP, STABLE, ANNEAL = "warmup", "stable", "anneal"


@dataclass(frozen=True)
class WSDSchedule:
    total_steps: int
    peak_lr: float
    warmup_steps: int = 0
    decay_fraction: float = 0.2
    min_lr: float = 0.0

    def __post_init__(self):
        if self.total_steps <= 0:
            raise ValueError("total_steps must be positive")
        if not 0.0 <= self.decay_fraction <= 1.0:
            raise ValueError("decay_fraction must lie in [0, 1]")
        if self.warmup_steps > self.decay_start:
            raise ValueError(
                f"warmup ({self.warmup_steps} steps) runs past the decay start (step {self.decay_start})"
            )

    @property
    def decay_steps(self) -> int:
        return int(round(self.decay_fraction * self.total_steps))

    @property
    def decay_start(self) -> int:
        """First step of the anneal phase; the pre-decay checkpoint holds the state before this step."""
        return self.total_steps - self.decay_steps

    def phase(self, step: int) -> str:
        if step < self.warmup_steps:
            return WARMUP
        if step >= self.decay_start:
            return ANNEAL
        return STABLE

    def lr(self, step: int) -> float:
        """Learning rate for optimizer step `step` (0-based)."""
        phase = self.phase(step)
        if phase == WARMUP:
            return self.peak_lr * (step + 1) / self.warmup_steps
        if phase == STABLE:
            return self.peak_lr
        # progress runs 1/decay_steps .. 1 so the last step lands exactly on min_lr
        progress = min(1.0, (step - self.decay_start + 1) / self.decay_steps)
        return self.min_lr + (self.peak_lr - self.min_lr) * (1.0 - math.sqrt(progress))
