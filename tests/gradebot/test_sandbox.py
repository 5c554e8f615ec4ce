"""The sandbox itself (bubblewrap + rlimits), without nbgrader: what a process inside can and cannot do."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import tinycourse as tc
from gradebot.core import sandbox as sb
from gradebot.core.errors import SandboxUnavailable
from gradebot.core.jobs import process_submission
from gradebot.core.kernel_needs import kernel_needs
from gradebot.core.service import GradingService

PROBE = r'''
import json, os, resource, socket, sys
out = {"uid": os.getuid(), "pid": os.getpid(), "cwd": os.getcwd(), "root": sorted(os.listdir("/"))}
out["visible"] = {p: os.path.exists(p) for p in sys.argv[1:]}
try:
    socket.create_connection(("1.1.1.1", 53), timeout=2); out["net"] = "open"
except OSError as e:
    out["net"] = str(e)
writes = {}
for p in ["/usr/x", "/etc/x", "/x", "/tmp/x", os.path.join(os.environ["HOME"], "x"), "rel.txt"]:
    try:
        open(p, "w").write("x"); writes[p] = "ok"
    except OSError as e:
        writes[p] = e.errno
out["writes"] = writes
out["limits"] = {n: resource.getrlimit(getattr(resource, n))[0] for n in
                 ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_NPROC", "RLIMIT_FSIZE", "RLIMIT_CORE")}
out["env"] = {k: os.environ.get(k) for k in ("NUMNET_GRADING", "KERAS_BACKEND", "KERAS_HOME", "NUMNET_MNIST_DIR",
                                              "GRADEBOT_SANDBOX_SPEC", "PYTHONPATH")}
print(json.dumps(out))
'''


DECLARATION = """
[kernel]
env = { KERAS_BACKEND = "jax", NUMNET_GRADING = "1" }
data = { NUMNET_MNIST_DIR = "/work/shared/data/mnist" }
"""


@pytest.fixture
def spec(make_config, tmp_path):
    """A job's sandbox for a course that declares an environment and a read-only data dir for its kernel."""
    config = make_config(memory_bytes=1536 * 2**20, cpu_seconds=30)
    (config.course_path / "gradebot.course.toml").write_text(DECLARATION)
    needs = kernel_needs(config.course_path, environ={})
    return config, sb.make_spec(config, tmp_path / "job" / "s", slot=977, needs=needs)


def test_inside_view_and_limits(spec, tiny_course):
    config, s = spec
    secret = [
        str(config.course_path / "source"),
        str(config.course_path / "gradebook.db"),
        str(config.data_path),
        str(tiny_course),
        os.path.dirname(sb.__file__),
        "/root/.ssh",
        "/home",
    ]
    proc = sb.run_in_sandbox(s, [s.python, "-c", PROBE, *secret, "/work/shared/data/mnist", sys.prefix])
    assert proc.returncode == 0, proc.stderr.decode()
    out = json.loads(proc.stdout)
    assert out["uid"] == (977 + config.sandbox_uid_base if os.geteuid() == 0 else os.getuid())
    assert out["uid"] != 0
    assert out["pid"] < 10  # own pid namespace
    assert not any(out["visible"][p] for p in secret), out["visible"]
    assert out["visible"]["/work/shared/data/mnist"] and out["visible"][sys.prefix]
    assert "unreachable" in out["net"].lower()
    w = out["writes"]
    assert w["/usr/x"] == w["/etc/x"] == w["/x"] == w["/tmp/x"] == 30  # EROFS
    assert w[os.path.join(s.scratch, "home", "x")] == "ok" and w["rel.txt"] == "ok"  # scratch is writable
    lim = out["limits"]
    assert lim["RLIMIT_CPU"] == 30 and lim["RLIMIT_AS"] == 1536 * 2**20 and lim["RLIMIT_CORE"] == 0
    assert lim["RLIMIT_NPROC"] == config.max_processes and lim["RLIMIT_FSIZE"] == config.max_file_bytes
    env = out["env"]
    assert env["NUMNET_GRADING"] == "1" and env["KERAS_BACKEND"] == "jax"
    assert env["NUMNET_MNIST_DIR"] == "/work/shared/data/mnist" and env["KERAS_HOME"] is None
    assert env["GRADEBOT_SANDBOX_SPEC"] is None and env["PYTHONPATH"] is None  # nothing of the grader leaks in


def test_cpu_limit_kills(spec):
    _, s = spec
    s.cpu_seconds = 1
    proc = sb.run_in_sandbox(s, [s.python, "-c", "while True: pass"], timeout=60)
    assert proc.returncode == 128 + 24  # SIGXCPU


def test_fail_closed_without_bwrap(make_config, roster_csv, monkeypatch):
    monkeypatch.setattr(sb, "BWRAP", "/nonexistent/bwrap")
    monkeypatch.setattr(sb, "_checked", {})
    config = make_config()
    with pytest.raises(SandboxUnavailable, match="bubblewrap not found"):
        sb.check_sandbox(config)
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    sub = svc.submit("s1", "a.ipynb", tc.submission(["open('/tmp/ran-unsandboxed', 'w')"]))
    assert process_submission(config, svc.store, sub.id, slot=978) == "failed"
    got = svc.get_submission(sub.id)
    assert got.status == "failed" and "sandbox" in got.error and got.result is None


def test_kernel_manager_refuses_without_spec(monkeypatch):
    monkeypatch.delenv(sb.SPEC_ENV, raising=False)
    with pytest.raises(SandboxUnavailable):
        sb.kernel_manager_class()()


def test_slots_are_unique_per_host():
    a = sb.acquire_slot(first=800, last=810)
    root = os.path.dirname(os.path.dirname(os.path.dirname(sb.__file__)))
    code = (
        f"import sys; sys.path.insert(0, {root!r}); from gradebot.core import sandbox as sb; "
        "print(sb.acquire_slot(first=800, last=810))"
    )
    other = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert other != a
    sb.release_slot(a)


def test_sandbox_none_is_explicit_and_runs(make_config, caplog):
    """The instructor opt-out works (for trusted notebooks) and is logged loudly."""
    config = make_config(sandbox="none")
    with caplog.at_level("WARNING"):
        sb.check_sandbox(config)
    assert "SANDBOX DISABLED" in caplog.text


def test_job_wall_clock_limit_kills_everything(make_config, tmp_path):
    from gradebot.core.grading import grade_notebook

    work = tmp_path / "w"
    work.mkdir()
    config = make_config(cell_timeout=120, wall_seconds=15, work_dir=str(work))
    out = grade_notebook(tc.submission(["import time\ntime.sleep(600)"]), config, slot=979)
    assert out.result.verdict == "timeout" and out.result.total == 0.0
    assert any("job time limit of 15 s" in m for m in out.result.messages)
    import psutil

    left = [p for p in psutil.process_iter(["cmdline"]) if any(str(work) in (a or "") for a in p.info["cmdline"] or [])]
    assert left == []


def test_direct_nbgrader_process_when_fork_server_is_off(make_config, monkeypatch):
    from gradebot.core.grading import grade_notebook

    monkeypatch.setenv("GRADEBOT_FORKSERVER", "0")
    out = grade_notebook(tc.submission(), make_config(), slot=980)
    assert out.result.total == 5.0 and out.result.verdict == "ok"


def test_late_penalty_is_in_the_feedback_page(make_config):
    """The page a late student reads shows the total that counts (penalty applied), not the total before it."""
    from gradebot.core.grading import grade_notebook

    out = grade_notebook(tc.submission(), make_config(late_policy="penalty:0.4"), slot=981, late=True)
    assert out.result.total == 3.0
    assert "Результат проверки: 3 из 5" in out.feedback_html and "из 5</h1>" in out.feedback_html
    assert "Результат проверки: 5 из 5" not in out.feedback_html
    assert "40% penalty" in out.feedback_html


def test_one_sandbox_mode_check_for_the_kernel_and_the_trusted_runner(monkeypatch):
    from coursekit.trusted.execute import Launcher
    from gradebot.core.nbexec import SandboxExecute

    monkeypatch.setenv(sb.SANDBOX_MODE_ENV, "nonsense")
    for start in (sb.sandbox_mode, SandboxExecute, lambda: Launcher(files_dir="/nonexistent")):
        with pytest.raises(SandboxUnavailable, match="GRADEBOT_SANDBOX_MODE='nonsense': refusing to run student code"):
            start()
    monkeypatch.setenv(sb.SANDBOX_MODE_ENV, "none")
    assert sb.sandbox_mode() == "none"
    monkeypatch.delenv(sb.SANDBOX_MODE_ENV)
    assert sb.sandbox_mode() == "bwrap"
