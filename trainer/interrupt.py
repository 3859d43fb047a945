"""Stopping the trainer on SIGTERM or SIGINT without leaving Ray processes behind.

`run_on_ray` joins or starts Ray in the main thread, then runs the training in a worker thread while
the main thread waits with our own handlers installed. The thread is what makes this work: Ray Train's
`fit()` replaces the SIGINT handler when called from the main thread (its graceful abort takes seconds
and exits 1 with no message), and a signal arriving while the main thread sits in Ray's C++ code ends in
Ray's own SIGTERM handler, whose `sys.exit` from there aborts the process (exit -6, no message).

On a signal:
- Ray started here (`ray.init(address="local")`): `ray.shutdown()` stops the node's processes (GCS,
  raylet, dashboard and runtime-env agents, workers); whatever of this process's children is still
  alive `SHUTDOWN_GRACE_S` later is killed, so nothing outlives the trainer.
- An existing cluster (`--address`, RAY_ADDRESS): only disconnect. The cluster belongs to the user;
  its GCS ends the job's actors (the training) once their driver is gone.
"""

from __future__ import annotations

import signal
import threading
from typing import Callable, TypeVar

from trainer.cluster import connect

T = TypeVar("T")
SHUTDOWN_GRACE_S = 10.0  # Ray's own graceful stop waits for each process in turn; on a loaded machine a few s
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """The trainer received SIGTERM or SIGINT; Ray has been stopped (or left, if not ours)."""

    def __init__(self, signum: int, started_here: bool):
        self.signum = signum
        self.exit_code = 128 + signum  # the shell's convention for "ended by signal N"
        what = "stopped the local Ray instance" if started_here else "disconnected from the Ray cluster"
        super().__init__(f"interrupted by {signal.Signals(signum).name}: training stopped, {what}")


def run_on_ray(work: Callable[[], T], address: str | None, *, num_cpus: int) -> T:
    """`work()` (which uses Ray) with Ray joined or started first; on SIGTERM/SIGINT raises `Interrupted`."""
    started_here = connect(address, num_cpus=num_cpus)
    outcome: dict = {}

    def target() -> None:
        try:
            outcome["result"] = work()
        except BaseException as exc:  # noqa: BLE001 - handed to the main thread, which re-raises it
            outcome["error"] = exc

    def on_signal(signum: int, frame) -> None:
        raise Interrupted(signum, started_here)

    previous = {sig: signal.signal(sig, on_signal) for sig in SIGNALS}
    thread = threading.Thread(target=target, name="train", daemon=True)  # daemon: never holds up the exit
    try:
        thread.start()
        while thread.is_alive():
            thread.join(timeout=0.5)  # returns to Python often, so a handler runs at once
    except Interrupted:
        for sig in SIGNALS:  # a second Ctrl-C must not interrupt the shutdown itself
            signal.signal(sig, signal.SIG_IGN)
        stop_ray(started_here)
        raise
    finally:
        for sig, handler in previous.items():
            if signal.getsignal(sig) is on_signal:
                signal.signal(sig, handler)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def stop_ray(started_here: bool) -> None:
    """Disconnect; if this process started Ray, also make sure every process of that instance is gone."""
    import psutil
    import ray

    ours = psutil.Process().children(recursive=True) if started_here else []  # before the tree comes apart
    stopper = threading.Thread(target=ray.shutdown, daemon=True)
    stopper.start()
    stopper.join(timeout=SHUTDOWN_GRACE_S)
    if not ours:
        return
    _, alive = psutil.wait_procs(
        ours, timeout=1.0
    )  # a process ray.shutdown just signalled may still be exiting
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=5.0)
