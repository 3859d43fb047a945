"""The WSD schedule: hand-computed learning rates and phases."""

import math

import pytest

from trainer.schedule import WSDSchedule


def test_warmup_stable_decay_values():
    s = WSDSchedule(total_steps=100, peak_lr=1.0, warmup_steps=10, decay_fraction=0.2, min_lr=0.1)
    assert s.decay_start == 80 and s.decay_steps == 20
    assert s.lr(0) == pytest.approx(0.1)  # (0 + 1) / 10
    assert s.lr(9) == pytest.approx(1.0)
    assert s.lr(10) == s.lr(79) == 1.0
    # 1 - sqrt shape: at step 84, progress = 5/20 -> 0.1 + 0.9 * (1 - 0.5) = 0.55
    assert s.lr(84) == pytest.approx(0.55)
    assert s.lr(99) == pytest.approx(0.1)  # the last step lands on min_lr
    decay = [s.lr(i) for i in range(80, 100)]
    assert all(a > b for a, b in zip(decay, decay[1:]))
    assert decay[0] == pytest.approx(0.1 + 0.9 * (1 - math.sqrt(1 / 20)))


def test_phases_switch_at_planned_steps():
    s = WSDSchedule(total_steps=50, peak_lr=3e-4, warmup_steps=5, decay_fraction=0.2)
    phases = [s.phase(i) for i in range(50)]
    assert phases[:5] == ["warmup"] * 5
    assert phases[5:40] == ["stable"] * 35
    assert phases[40:] == ["anneal"] * 10


def test_no_decay_and_invalid_settings():
    s = WSDSchedule(total_steps=10, peak_lr=1.0, warmup_steps=0, decay_fraction=0.0)
    assert [s.phase(i) for i in range(10)] == ["stable"] * 10 and s.lr(9) == 1.0
    with pytest.raises(ValueError, match="warmup"):
        WSDSchedule(total_steps=10, peak_lr=1.0, warmup_steps=9, decay_fraction=0.5)
