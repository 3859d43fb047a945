"""CPU time per named step of a computation, each step's time exclusive of the steps timed inside it.

    clock = StepClock()
    clock.wrap(some_module, "parse", "HTML parse")   # every call of some_module.parse from now on
    for item in clock.iterate("read", reader): ...   # the time of producing each item
    clock.totals                                     # {"HTML parse": seconds, "read": seconds}

The clock reads the CPU time of the calling thread (`time.thread_time`), not wall time (a shared
machine's load does not count) and not the process's CPU clock: while a CPU-time interval timer
(ITIMER_PROF, the extraction's time budget) is armed, Linux serves the process clock from a counter
that moves once per scheduler tick, so short steps would read 0.
"""

from __future__ import annotations

import time
from collections import defaultdict
from contextlib import contextmanager


class StepClock:
    """Exclusive CPU seconds per step: a step's time minus that of the steps that ran inside it."""

    def __init__(self):
        self.totals: dict[str, float] = defaultdict(float)
        self.children: list[float] = []  # time of the timed steps inside each open step
        self.open: list[float] = []

    def start(self) -> None:
        self.children.append(0.0)
        self.open.append(time.thread_time())

    def stop(self, name: str) -> None:
        spent = time.thread_time() - self.open.pop()
        self.totals[name] += spent - self.children.pop()
        if self.children:
            self.children[-1] += spent

    @contextmanager
    def step(self, name: str):
        self.start()
        try:
            yield
        finally:
            self.stop(name)

    def on_gc(self, phase: str, info: dict) -> None:
        """A `gc.callbacks` hook: the cyclic garbage collector's runs are a step of their own."""
        if phase == "start":
            self.start()
        else:
            self.stop("Python garbage collector (cyclic)")

    def wrap(self, owner, attr: str, name: str) -> None:
        """Time every call of `owner.attr` (a module's or a class's attribute) as step `name`."""
        setattr(owner, attr, self.timed(getattr(owner, attr), name))

    def timed(self, function, name: str):
        def timed(*args, **kwargs):
            with self.step(name):
                return function(*args, **kwargs)

        return timed

    def iterate(self, name: str, items):
        """`items`, with the time of producing each item counted as step `name`."""
        items = iter(items)
        while True:
            with self.step(name):
                item = next(items, StopIteration)
            if item is StopIteration:
                return
            yield item
