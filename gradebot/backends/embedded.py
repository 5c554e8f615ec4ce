"""The embedded backend (default): the store in one local database file (``<data_dir>/gradebot.sqlite3``), its
``gb_jobs`` table as the durable queue, N local worker processes.

Queue semantics (the job bookkeeping is the store's, :class:`gradebot.sqlstore.SqlStore`)
- ``enqueue`` notes the submission in ``gb_jobs`` (idempotent), committed before it returns.
- A worker claims the next job that no live worker holds (:meth:`SqlStore.claim_next`: new submissions before
  regrades, each oldest first; no claim, a claim whose heartbeat is older than ``lease_seconds``, or one of a
  dead process on this host) and renews its claim from a
  heartbeat thread every ``lease_seconds/3`` while it grades. After
  :func:`gradebot.core.jobs.process_submission` returns, the claim is released and the job leaves the queue (ack).
- kill -9 of a worker (or of the whole service) leaves the job with a stale claim; on restart the job is
  claimed again (at once if the owner pid is gone, else after the lease expires) and graded again; the store's
  compare-and-set ``finish`` keeps it to one result. The nbgrader child dies with its worker (PDEATHSIG) and the
  sandbox with nbgrader (--die-with-parent).
- ``start()`` re-enqueues every unfinished submission, so a crash between the submission commit and the enqueue
  loses nothing. A monitor thread restarts workers that die.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from gradebot.backends.base import QueueBackend
from gradebot.sqlstore import SqlStore

if TYPE_CHECKING:
    from gradebot.config import Config

log = logging.getLogger("gradebot.embedded")


def db_path(config: Config) -> Path:
    return config.data_path / "gradebot.sqlite3"


def open_store(config: Config) -> SqlStore:
    return SqlStore.in_file(db_path(config))


def _owner_id() -> str:
    import psutil

    p = psutil.Process()
    return f"{socket.gethostname()}:{p.pid}:{p.create_time():.3f}"


def _owner_alive(owner: str) -> bool:
    import psutil

    try:
        host, pid, ctime = owner.rsplit(":", 2)
    except ValueError:
        return False
    if host != socket.gethostname():
        return True  # another host's worker: trust its lease
    try:
        p = psutil.Process(int(pid))
        return abs(p.create_time() - float(ctime)) < 0.01 and p.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, ValueError):
        return False


def _owner_dead(owner: str) -> bool:
    return not _owner_alive(owner)


def _worker_main(config_dict: dict, index: int) -> None:
    """Body of one worker process (``python -m gradebot.backends.embedded <index>``)."""
    from gradebot.config import Config
    from gradebot.core.jobs import process_submission
    from gradebot.core.sandbox import acquire_slot

    logging.basicConfig(
        level=os.environ.get("GRADEBOT_LOG_LEVEL", "INFO"),
        format=f"%(asctime)s worker{index} %(levelname)s %(name)s: %(message)s",
    )
    stop_event = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop_event.set())
    signal.signal(signal.SIGINT, lambda *_: stop_event.set())
    config = Config(**config_dict)
    slot = acquire_slot()
    try:
        from gradebot.core.grading import cleanup_stale_jobs

        removed = cleanup_stale_jobs(config.work_dir)
        if removed:
            log.info("removed %d job dir(s) left by dead workers", removed)
    except OSError as exc:
        log.warning("could not clean stale job dirs: %s", exc)
    store = open_store(config)
    owner = _owner_id()
    lease = float(config.lease_seconds)
    log.info("worker %d started (pid %d, sandbox slot %d)", index, os.getpid(), slot)
    while not stop_event.is_set():
        try:
            job = store.claim_next(owner, lease, owner_dead=_owner_dead)
        except store.transient_errors as exc:  # e.g. database locked for too long: try again
            log.warning("claim failed: %s", exc)
            job = None
        if job is None:
            stop_event.wait(0.25)
            continue
        sid, token = job
        done = threading.Event()

        def heartbeat(sid: int = sid, token: str = token) -> None:
            while not done.wait(lease / 3.0):
                try:
                    if not store.heartbeat(sid, token):
                        log.warning("submission %s: claim %s was taken over", sid, token)
                        return
                except store.transient_errors as exc:  # try again at the next beat
                    log.warning("heartbeat of submission %s failed: %s", sid, exc)

        hb = threading.Thread(target=heartbeat, daemon=True)
        hb.start()
        status = "error"
        store.token = token
        try:
            status = process_submission(config, store, sid, slot=slot)
            log.info("submission %s: %s", sid, status)
        except store.transient_errors as exc:  # the database is unavailable: the job stays queued, try again
            log.warning("submission %s: store unavailable (%s); trying again", sid, exc)
            status = None
        finally:
            store.token = None
            done.set()
            hb.join()
        if status is None:
            try:
                store.release(sid, token, "error")  # free at once; else the claim expires after the lease
            except store.transient_errors:
                pass
            stop_event.wait(5.0)
            continue
        store.release(sid, token, status, dequeue=True)
    log.info("worker %d stopped", index)


class EmbeddedBackend(QueueBackend):
    name = "embedded"

    def __init__(self, config):
        super().__init__(config)
        self._store: SqlStore | None = None
        self._procs: list[subprocess.Popen | None] = []
        self._stopping: threading.Event | None = None
        self._monitor: threading.Thread | None = None

    def open_store(self) -> SqlStore:
        if self._store is None:
            self._store = open_store(self.config)
        return self._store

    def enqueue(self, submission_id: int) -> None:
        self.open_store().note_enqueued(submission_id, published=True)

    def enqueue_many(self, submission_ids: list[int]) -> None:
        self.open_store().note_enqueued_many(submission_ids)

    def resume(self) -> int:
        ids = self.open_store().unfinished_ids()
        for sid in ids:
            self.enqueue(sid)
        return len(ids)

    def start(self) -> None:
        if self._stopping is not None:
            return
        n = self.resume()
        if n:
            log.info("resuming %d unfinished submission(s)", n)
        self._stopping = threading.Event()
        self._procs = [None] * self.config.workers
        started = threading.Event()
        # the monitor thread spawns (and respawns) the workers; they get PDEATHSIG tied to it, so they die with
        # the service (a kill -9 of the service leaves no orphan workers; their jobs are re-delivered)
        self._monitor = threading.Thread(
            target=self._watch, args=(self._stopping, started), name="gradebot-worker-monitor", daemon=True
        )
        self._monitor.start()
        started.wait(30)

    def _spawn(self, index: int) -> subprocess.Popen:
        from gradebot.core.nbgrader_run import die_with_parent

        env = dict(os.environ)
        env["GRADEBOT_WORKER_CONFIG"] = json.dumps(self.config.to_dict())
        parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = parent + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return subprocess.Popen(
            [sys.executable, "-m", "gradebot.backends.embedded", str(index)], env=env, preexec_fn=die_with_parent
        )

    def _watch(self, stopping: threading.Event, started: threading.Event) -> None:
        restarts: list[float] = []
        for i in range(len(self._procs)):
            self._procs[i] = self._spawn(i)
        started.set()
        while not stopping.wait(1.0):
            for i, p in enumerate(list(self._procs)):
                if p is not None and p.poll() is not None and not stopping.is_set():
                    now = time.monotonic()
                    restarts = [t for t in restarts if now - t < 60] + [now]
                    log.error("worker %d (pid %s) died with exit code %s; restarting it", i, p.pid, p.returncode)
                    if len(restarts) > 5 * len(self._procs):
                        log.error("workers keep dying; waiting 30 s before restarting")
                        if stopping.wait(30):
                            return
                    self._procs[i] = self._spawn(i)
        # stop requested: the workers get SIGTERM from stop(); the thread must outlive them (PDEATHSIG)
        for p in self._procs:
            if p is not None:
                try:
                    p.wait()
                except Exception:  # noqa: BLE001
                    pass

    def stop(self, timeout: float = 30.0) -> None:
        if self._stopping is None:
            return
        stopping, self._stopping = self._stopping, None
        stopping.set()
        for p in self._procs:
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)  # finish the current job, then exit
        deadline = time.monotonic() + timeout
        for p in self._procs:
            if p is not None:
                try:
                    p.wait(max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()  # its job keeps a lease with a dead owner: re-delivered on the next start
                    p.wait()
        self._procs = []
        if self._monitor is not None:
            self._monitor.join(5)

    def run_workers(self) -> None:
        stop_now = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop_now.set())
        self.start()
        log.info("embedded backend: %d worker(s) running; Ctrl-C to stop", self.config.workers)
        try:
            while not stop_now.wait(1.0):
                pass
        finally:
            self.stop()

    def queue_length(self) -> int:
        return self.open_store().job_count()

    def worker_pids(self) -> list[int]:
        return [p.pid for p in self._procs if p is not None and p.poll() is None]


if __name__ == "__main__":
    _worker_main(json.loads(os.environ["GRADEBOT_WORKER_CONFIG"]), int(sys.argv[1]))
