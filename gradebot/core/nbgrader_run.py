"""The one way coursekit and gradebot start nbgrader: :func:`run_nbgrader`.

``python -m nbgrader <argv>`` in a course directory, as a process of its own: in a new session (a timeout kills
its whole process group, kernels and runners included), dying with its caller (``PR_SET_PDEATHSIG``), its output
appended to a log file or captured. Callers: ``coursekit.release`` (the release), ``gradebot.core.course`` (a
course build's gradebook), the Celery backend (the PostgreSQL gradebook), the tests' tiny course, and
``gradebot.core.grading`` when its per-worker fork server (``_autograde_child``, the same command without a fresh
interpreter) is off or unusable.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

try:
    _LIBC = ctypes.CDLL(None, use_errno=True)
except OSError:  # pragma: no cover
    _LIBC = None

OUTPUT_KEPT = 6000  # characters of captured output kept in :attr:`NbgraderRun.output`


def die_with_parent() -> None:
    """In a child between fork and exec (so nothing that takes locks): die with SIGKILL when the parent dies, so
    a kill -9 of a worker leaves no orphan grading processes."""
    if _LIBC is not None:
        _LIBC.prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL


@dataclass
class NbgraderRun:
    returncode: int
    timed_out: bool = False
    output: str = ""  # the end of nbgrader's output (captured, or read back from the log)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def run_nbgrader(
    course_dir: str | Path,
    argv: list[str],
    env: dict | None = None,
    log_path: str | Path | None = None,
    timeout: float | None = None,
) -> NbgraderRun:
    """Run ``nbgrader <argv>`` in ``course_dir`` with ``env`` (default: this process' environment) and wait.

    Output goes to ``log_path`` (appended) when given, else to a temporary file; the end of it is returned either
    way. After ``timeout`` seconds the process group is killed and ``timed_out`` is set."""
    cmd = [sys.executable, "-m", "nbgrader", *argv]
    own_log = log_path is None
    if own_log:
        fd, log_path = tempfile.mkstemp(prefix="nbgrader-", suffix=".log")
        os.close(fd)
    try:
        with open(log_path, "ab") as logf:
            start = logf.tell()
            proc = subprocess.Popen(
                cmd,
                cwd=str(course_dir),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=logf,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=die_with_parent,
            )
            timed_out = False
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                rc = proc.wait()
        with open(log_path, "rb") as f:
            f.seek(start)
            output = f.read().decode(errors="replace")[-OUTPUT_KEPT:]
        return NbgraderRun(rc, timed_out, output)
    finally:
        if own_log:
            os.unlink(log_path)
