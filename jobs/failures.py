"""A stage that runs out of memory ends the job with one line naming the stage and the setting to
raise, not a Py4J trace.

In local mode every task runs inside the driver JVM, so a task's `OutOfMemoryError` makes Spark
exit that JVM (exit code 52, SparkExitCode.OOM) and the Python side then sees a dead gateway or a
stopped context rather than the error itself; both are recognised here.
"""

from __future__ import annotations

import time

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
