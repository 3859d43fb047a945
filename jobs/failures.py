"""A job that fails for a reason the user can act on ends with one line saying so, not a Py4J trace:
a stage out of memory (naming the setting to raise), a full disk (naming where it wrote; the stage's
scratch under `OUT/_work` and the parts no marker lists are removed so the failed attempt does not
keep the disk full), or an
interrupt (SIGINT/SIGTERM, exit code 128 + the signal's number, like a shell reports it).

In local mode every task runs inside the driver JVM, so a task's `OutOfMemoryError` makes Spark
exit that JVM (exit code 52, SparkExitCode.OOM) and the Python side then sees a dead gateway or a
stopped context rather than the error itself; both are recognised here.
"""

from __future__ import annotations

import argparse
import errno
import logging
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from pipeline import layout

OOM_MARKERS = ("OutOfMemory", "Java heap space", "GC overhead limit exceeded", "Direct buffer memory")
JVM_UNREACHABLE = "<the JVM did not answer>"
# What a Python call sees while an out-of-memory JVM shuts down: a stopped context or a dead gateway.
JVM_GONE_MARKERS = (
    'SparkContext.dagScheduler()" is null',
    "stopped SparkContext",
    "SparkContext has been shutdown",
    "SparkContext was shut down",
    "Py4JNetworkError",
    "Answer from Java side is empty",
    "Connection refused",
    JVM_UNREACHABLE,
)
SPARK_OOM_EXIT_CODE = 52  # org.apache.spark.util.SparkExitCode.OOM


class StageOutOfMemory(RuntimeError):
    """Raised by `jobs.chain.run_stage`; its message is the one line a user reads."""


def memory_hint(spark) -> str:
    """Which setting to raise, with its current value (read while the JVM is alive)."""
    conf = spark.sparkContext.getConf()
    if spark.sparkContext.master.startswith("local"):
        now = conf.get("spark.driver.memory", "1g")
        return (
            f"raise spark.driver_memory (now {now}; in local mode the driver JVM runs every task), "
            f"e.g. --set spark.driver_memory={_doubled(now)}"
        )
    now = conf.get("spark.executor.memory", "1g")
    return (
        f"raise the executor memory (spark.executor.memory, now {now}), "
        f"e.g. spark-submit --executor-memory {_doubled(now)}"
    )


def _doubled(size: str) -> str:
    digits = "".join(ch for ch in size if ch.isdigit())
    unit = size[len(digits) :] or "b"
    return f"{2 * int(digits)}{unit}" if digits else size


def _messages(exc: BaseException) -> str:
    seen, parts = set(), []
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        try:
            text = str(exc)
        except Exception:  # str() of a Py4JJavaError asks the JVM, which may be gone
            text = JVM_UNREACHABLE
        parts.append(f"{type(exc).__name__}: {text}")
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def _jvm_exit_code(spark, wait_s: float) -> int | None:
    """The exit code of a JVM this Python process launched, once it has exited (else None)."""
    proc = getattr(getattr(spark.sparkContext, "_gateway", None), "proc", None)
    if proc is None:  # under spark-submit the JVM started us, not the other way round
        return None
    deadline = time.monotonic() + wait_s
    while proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    return proc.poll()


def jvm_exited(spark) -> bool:
    return _jvm_exit_code(spark, 0.0) is not None


def is_out_of_memory(spark, exc: BaseException) -> bool:
    text = _messages(exc)
    if any(marker in text for marker in OOM_MARKERS):
        return True
    # The JVM may still be exiting when the Python call fails: give it a moment to report why.
    wait_s = 60.0 if any(marker in text for marker in JVM_GONE_MARKERS) else 0.0
    return _jvm_exit_code(spark, wait_s) == SPARK_OOM_EXIT_CODE


NO_SPACE_TEXT = "No space left on device"  # strerror(ENOSPC), also what the JVM's IOException says
# Where a Java or Spark message names the file it was writing when the disk filled up.
_WRITTEN_PATH = (
    re.compile(r"(\S+) \(No space left on device\)"),  # java.io.FileNotFoundException
    re.compile(r"writing rows to (\S+?)\.?(?:\s|$)"),  # Spark's TASK_WRITE_FAILED
)


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def is_out_of_disk(exc: BaseException) -> bool:
    """ENOSPC from Python (OSError errno 28), from a Python worker, or from the JVM inside a Py4J error."""
    if any(isinstance(e, OSError) and e.errno == errno.ENOSPC for e in _chain(exc)):
        return True
    return NO_SPACE_TEXT in _messages(exc) or "[Errno 28]" in _messages(exc)


def written_path(exc: BaseException) -> str | None:
    """The file being written when the disk filled up, when the error names it."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.filename:
            return str(e.filename)
    text = _messages(exc)
    for pattern in _WRITTEN_PATH:
        match = pattern.search(text)
        if match:
            return match.group(1).removeprefix("file:")
    return None


def output_arg(argv: list[str]) -> str | None:
    """The `--output` of a jobs command line (None when it has none)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--output")
    return parser.parse_known_args(argv)[0].output


def remove_scratch(out: str | Path) -> list[Path]:
    """Remove the scratch folders of `out` (`OUT/_work/*`) and the parts that failed attempts left in
    its stage folders (no marker lists them), unless another job has taken OUT since."""
    from pipeline.commit import leftovers
    from pipeline.runlock import RunLocked, run_lock

    scratch = layout.work_root(out)
    if not scratch.parent.is_dir():  # nothing written to OUT
        return []
    try:
        with run_lock(out):
            folders = sorted(p for p in scratch.iterdir() if p.is_dir()) if scratch.is_dir() else []
            for folder in folders:
                shutil.rmtree(folder, ignore_errors=True)
            for part in leftovers(out):
                part.unlink(missing_ok=True)
    except (RunLocked, OSError):  # another writer owns OUT now: its scratch is not ours to remove
        return []
    return folders


def out_of_disk_reason(exc: BaseException, out: str | None) -> str | None:
    """The one line for a full disk, after removing the failed attempt's scratch; None for other errors."""
    if not is_out_of_disk(exc):
        return None
    removed = remove_scratch(out) if out else []
    where = written_path(exc) or (", ".join(map(str, removed)) if removed else out) or "the output"
    cleaned = "its scratch was removed; " if removed else ""
    return f"no space left on device writing {where} ({cleaned}free space there and rerun to resume)"


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised as a KeyboardInterrupt: locks are released, py4j drops the connection it
    was reading and Spark is stopped on the way out. (Once Spark runs, its own SIGINT handler cancels
    the running jobs and raises a plain KeyboardInterrupt, which ends the same way.)"""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _raise_interrupted(signum: int, _frame) -> None:
    # Once interrupted, py4j's named loggers (py4j.clientserver, py4j.java_gateway) report the torn-down
    # connections with tracebacks on their way out; a logger's level, unlike a filter, holds for its children.
    if not logging.getLogger().isEnabledFor(logging.DEBUG):
        logging.getLogger("py4j").setLevel(logging.CRITICAL + 1)
    raise Interrupted(signum)


def _not_from_py4j(record: logging.LogRecord) -> bool:
    return record.name != "root" or "py4j" not in Path(record.pathname).parts


def raise_on_signals() -> None:
    """Turn SIGINT and SIGTERM into `Interrupted` in the main thread (Python's default ends the process
    silently on SIGTERM; a job started in the background inherits SIGINT ignored), and keep py4j's own
    traces of an interrupted call (on the root logger and, once interrupted, on its named loggers) to debug
    level: the interrupt, or the error the call raises, is reported in one line by the caller."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _raise_interrupted)
    root = logging.getLogger()
    root.addFilter(lambda record: _not_from_py4j(record) or root.isEnabledFor(logging.DEBUG))


JVM_EXIT_WAIT_S = 30.0  # how long the last line waits for a launched JVM to exit (it flushes its logs)


def end_jvm() -> None:
    """Let a JVM this process launched exit before the last line is printed, so that nothing it logs
    while shutting down (e.g. the traces of tasks killed by an interrupt) lands after that line. The
    gateway JVM exits when its stdin closes; under spark-submit there is no such child."""
    pyspark = sys.modules.get("pyspark")
    if pyspark is None:  # never imported: no JVM was started
        return
    proc = getattr(pyspark.SparkContext._gateway, "proc", None)
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.stdin.close()
        proc.wait(JVM_EXIT_WAIT_S)
    except (OSError, subprocess.TimeoutExpired, KeyboardInterrupt):  # or a second Ctrl-C: it dies with us
        pass


def interrupted_exit(exc: BaseException) -> tuple[str, int]:
    """The one line and the exit code (128 + signal number) for a KeyboardInterrupt or `Interrupted`."""
    signum = exc.signum if isinstance(exc, Interrupted) else signal.SIGINT
    return f"interrupted ({signal.Signals(signum).name})", 128 + signum


def reason_line(exc: BaseException) -> str:
    """One line for an unexpected failure: the exception's first line (the trace is logged before it)."""
    try:
        lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    except Exception:  # str() of a Py4JJavaError asks the JVM, which may be gone
        lines = [JVM_UNREACHABLE]
    if "Traceback (most recent call last):" in lines:  # a Python worker's error: its last line says it
        return lines[-1]
    return f"{type(exc).__name__}: {lines[0] if lines else ''}"
