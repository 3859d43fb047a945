"""Test-only fault injection: kill the driver at a named point to prove crash-safe resume.

`WEBDATA_KILL_AT=scratch:extract` makes the process SIGKILL itself when it reaches that point (no
clean-up, no atexit: as if the machine died). Points: `before:<stage>` (between stages),
`scratch:<stage>` (inside a stage, its full output written to scratch), `publish:<stage>` (inside
the publish step, documents moved into place but `_SUCCESS` not yet written). Unset in production.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if name in os.environ.get("WEBDATA_KILL_AT", "").split(","):
        os.kill(os.getpid(), signal.SIGKILL)


# Executor-side: when this variable names a marker file that does not exist yet, the Python worker
# creates it and SIGKILLs itself (after handing over a file's first batch in the extract stage): one
# executor lost mid-task, once per run. Spark must retry the task without duplicating output.
FAULT_KILL_ONCE_ENV = "WEBDATA_FAULT_KILL_ONCE"


def executor_kill_point() -> None:
    marker = os.environ.get(FAULT_KILL_ONCE_ENV)
    if not marker:
        return
    try:
        os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return
    os.kill(os.getpid(), signal.SIGKILL)
