"""Crash safety of the embedded backend: kill -9 mid-grading, restart, nothing lost, one result per submission."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone

import psutil

import tinycourse as tc
from gradebot.core.jobs import process_submission
from gradebot.core.service import GradingService

SLOW = tc.submission(["import time\ntime.sleep(5)"])


def _wait_status(svc, sid, status, timeout=300):
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if svc.get_submission(sid).status == status:
            return True
        time.sleep(0.1)
    return False


def _procs_mentioning(text: str) -> list[psutil.Process]:
    out = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(text in (a or "") for a in (p.info["cmdline"] or [])):
                out.append(p)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return out


def test_kill_workers_mid_grading_then_restart(make_config, roster_csv, tmp_path):
    work = tmp_path / "w"
    work.mkdir()
    config = make_config(workers=1, lease_seconds=5, work_dir=str(work))
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    svc.start()
    slow = svc.submit("s1", "slow.ipynb", SLOW)
    others = [svc.submit("s2", "a.ipynb", tc.submission()), svc.submit("s3", "b.ipynb", tc.submission())]
    assert _wait_status(svc, slow.id, "grading")
    time.sleep(3)  # inside nbgrader / the sandboxed kernel by now
    killed = svc.backend.worker_pids()
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    time.sleep(1)
    assert svc.get_submission(slow.id).status != "done"  # interrupted, not finished, not lost
    # nbgrader and the sandboxed kernel of the killed worker die with it (PDEATHSIG, --die-with-parent)
    orphans = [p for p in _procs_mentioning(str(work)) if p.ppid() in killed or p.ppid() == 1]
    assert orphans == [], orphans
    svc.stop()  # (its monitor may already have restarted a worker that picked the job up again)

    svc2 = GradingService(config)  # "restart of the service"
    svc2.start()
    try:
        done = [svc2.wait(s.id, timeout=600) for s in [slow, *others]]
    finally:
        svc2.stop()
    assert [d.status for d in done] == ["done", "done", "done"]
    assert all(d.result.total == 5.0 for d in done)
    assert list(work.iterdir()) == []  # the killed job's temp dir was cleaned up by the restart
    assert done[0].deliveries >= 2  # graded again after the crash ...
    assert len(svc2.list_submissions("s1")) == 1  # ... without a second submission or result
    assert svc2.queue_length() == 0


def test_kill_9_of_whole_service_process(make_config, roster_csv, tmp_path):
    """`python -m gradebot worker` (service + its worker processes) killed with SIGKILL, then started again."""
    config = make_config(workers=2, lease_seconds=5)
    env = dict(os.environ)
    for k, v in config.to_dict().items():
        if v is not None:
            env["GRADEBOT_" + k.upper()] = str(v)
    env["PYTHONPATH"] = (
        str(config.course_path.parent)
        + os.pathsep
        + os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    )
    cmd = [sys.executable, "-m", "gradebot", "worker"]
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

    svc = GradingService(config)  # a front end: stores and enqueues, runs no workers
    svc.import_roster(roster_csv)
    subs = [
        svc.submit("s1", "slow1.ipynb", SLOW),
        svc.submit("s2", "slow2.ipynb", SLOW),
        svc.submit("s3", "ok.ipynb", tc.submission()),
    ]
    service = subprocess.Popen(
        cmd, env=env, cwd=repo, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        assert _wait_status(svc, subs[0].id, "grading", timeout=120)
        time.sleep(3)
        os.killpg(service.pid, signal.SIGKILL)  # the service and its workers, at once
        service.wait()
        time.sleep(1)
        states = [svc.get_submission(s.id).status for s in subs]
        assert "done" not in states[:1] and all(st in ("queued", "grading", "done") for st in states)

        service = subprocess.Popen(
            cmd, env=env, cwd=repo, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        done = [svc.wait(s.id, timeout=600) for s in subs]
    finally:
        if service.poll() is None:
            service.send_signal(signal.SIGTERM)
            try:
                service.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(service.pid, signal.SIGKILL)
    assert [d.status for d in done] == ["done"] * 3
    assert [d.result.total for d in done] == [5.0] * 3
    assert all(len(svc.list_submissions(s)) == 1 for s in ("s1", "s2", "s3"))


def test_redelivered_job_is_idempotent(make_config, roster_csv):
    config = make_config()
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    sub = svc.submit("s1", "a.ipynb", tc.submission())
    assert process_submission(config, svc.store, sub.id, slot=900) == "done"
    first = svc.get_submission(sub.id)
    # the same job delivered again (e.g. the worker died after recording, before acknowledging)
    assert process_submission(config, svc.store, sub.id, slot=900) == "done"
    again = svc.get_submission(sub.id)
    assert again.deliveries == first.deliveries == 1
    assert again.finished_at == first.finished_at and again.result == first.result
    assert svc.store.finish(sub.id, "done", first.result, None, None) is False
    assert svc.grades()[0]["attempts"] == 1


def test_unfinished_submissions_are_requeued_on_start(make_config, roster_csv, tmp_path):
    """A crash after the submission commit but before the enqueue loses nothing: start() re-enqueues it."""
    config = make_config()
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    path, sha = svc.backend.write_blob(tc.submission())
    sub = svc.store.add_submission("s1", "a.ipynb", path, sha, 10, "cli", False, datetime.now(timezone.utc))
    assert svc.queue_length() == 0
    assert svc.backend.resume() == 1
    assert svc.queue_length() == 1
    svc.backend.resume()
    assert svc.queue_length() == 1  # enqueue is idempotent
    assert svc.get_submission(sub.id).status == "queued"


def test_submission_is_durable_before_ack(make_config, roster_csv):
    config = make_config()
    svc = GradingService(config)
    svc.import_roster(roster_csv)
    data = tc.submission()
    sub = svc.submit("s2", "mine.ipynb", data)
    svc.store.close()
    reopened = GradingService(config)  # a new process would see exactly this
    got = reopened.get_submission(sub.id)
    assert got.status == "queued" and got.filename == "mine.ipynb"
    with open(reopened.store.blob_path(sub.id), "rb") as f:
        assert f.read() == data
