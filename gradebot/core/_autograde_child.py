"""A per-worker nbgrader fork server: ``python -m gradebot.core._autograde_child`` (started by grading.py).

It imports nbgrader once (about 3 CPU-seconds: nbgrader/__init__ pulls in its server extensions) and then, for
each job request read from stdin (one JSON line: course, env, argv, log), forks a child that runs
``nbgrader <argv>`` in the job's course copy. It writes ``{"pid": n}`` right after the fork and ``{"rc": n}``
when the child exits. Its own life is tied to the worker (PR_SET_PDEATHSIG set by the worker), each child's to the
server (PR_SET_PDEATHSIG), and the sandbox's to nbgrader (bwrap --die-with-parent): a kill -9 of the worker leaves
nothing behind. Standard input closed = exit.
"""

import ctypes
import json
import os
import signal
import sys

_LIBC = ctypes.CDLL(None, use_errno=True)


def run_child(course_dir: str, env: dict, argv: list, log_path: str) -> None:
    """In the forked child: become the job's nbgrader process (never returns)."""
    code = 1
    try:
        os.setsid()  # own process group: the wall-clock kill hits it all
        _LIBC.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the server
        fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        sys.stdin = open(os.devnull)
        os.chdir(course_dir)
        os.environ.clear()
        os.environ.update(env)
        from nbgrader.apps.nbgraderapp import NbGraderApp

        try:
            NbGraderApp.launch_instance(argv=list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001
        import traceback

        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    import nbgrader.api  # noqa: F401  (the point of this process: import once, fork per job)
    import nbgrader.apps.nbgraderapp  # noqa: F401
    import gradebot.core.nbexec  # noqa: F401

    out = sys.stdout
    out.write(json.dumps({"ready": True}) + "\n")
    out.flush()
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(req["course"], req["env"], req["argv"], req["log"])
        out.write(json.dumps({"pid": pid}) + "\n")
        out.flush()
        _, status = os.waitpid(pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        out.write(json.dumps({"rc": rc}) + "\n")
        out.flush()


if __name__ == "__main__":
    serve()
