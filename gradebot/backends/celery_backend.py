"""The distributed queue backend: Celery workers on any number of machines, a Redis broker, PostgreSQL for
everything durable (see docs/gradebot_scale.md).

Select it with ``GRADEBOT_BACKEND=celery`` plus ``GRADEBOT_BROKER_URL=redis://host:port/db`` and
``GRADEBOT_DB_URL=postgresql://user:password@host:port/dbname``. The front end (web/Telegram/CLI) and the workers
use the same settings; workers need a checkout of the repository (gradebot code and the nbgrader course source)
and Python/bubblewrap, but no shared filesystem: notebook bytes, results, feedback and the nbgrader gradebook are
in PostgreSQL, and each job's temporary course copy stays in the worker's local ``work_dir``/``data_dir``.

Delivery guarantees
- Messages carry only the submission id. ``task_acks_late`` + ``task_reject_on_worker_lost`` +
  ``worker_prefetch_multiplier=1``: a worker holds one message at a time and acknowledges it after the result is
  committed. A pool process killed mid-job has its message re-queued at once; a whole worker (or machine) that
  dies leaves the message in Redis' unacked set, and Redis re-delivers it after ``visibility_timeout``.
- Idempotent job: before grading, the worker takes a *claim* row (``gb_claims``, :meth:`SqlStore.claim`: random
  attempt token, heartbeat renewed every lease/3). A delivery of an already finished submission is acknowledged
  and dropped; one that another live worker is grading is re-scheduled (``retry`` after one lease) rather than
  dropped, because Redis may have restored the running job's own message; a claim whose heartbeat is older
  than the lease belongs to a dead worker and is taken over (its attempt is logged as ``lost``), as is a claim
  left by this same pool process (a job it abandoned on a database error). ``gb_results`` has the submission id as
  primary key and ``Store.finish`` is compare-and-set, so there is never a second result, and the delivery count
  (``mark_grading``) rises only for real attempts.
- Nothing is lost to the broker either: the row in PostgreSQL is the truth. Redis keeps an append-only file
  (``appendfsync always`` in scripts/start_services.sh), so a restarted broker still holds every queued and
  unacknowledged message. A publish that failed while the broker was down is marked in ``gb_jobs`` and a sweeper
  in the front process publishes it later; and a broker that came back *empty* (data lost, new server) is
  detected by a marker key the backend keeps in it (``gradebot:<queue>:epoch``): then the sweeper re-publishes
  every unfinished submission that no live worker claims.
- A single message can still vanish when the broker crashes: kombu takes a message off the queue (``BRPOP``) and
  only then, in a second command, records it as unacknowledged; a broker killed between the two (or after the pop
  but before its reply reached the worker) keeps neither, and the marker survives. So the sweeper also compares the
  broker's contents with the database: an unfinished submission that no live worker claims and whose id is in no
  message of the queue and none of the unacknowledged ones, on two sweeps in a row (a message caught between the
  two commands at one sweep is not mistaken for a lost one), is re-published (:meth:`CeleryBackend.broker_holds`).

Queue order: new submissions before regrades. A regrade publishes its submissions at :data:`REGRADE_PRIORITY`
(Redis keeps one list per priority step and workers pop the higher priority first), and so does the sweeper when
it re-publishes a regraded submission (``SqlStore.queued_regrades``). With ``worker_prefetch_multiplier=1`` each
pool process holds at most one message, so a submission that arrives during a class regrade waits only for the
jobs already running.

Settings (environment, or attributes of the Config if the core adds them): ``GRADEBOT_BROKER_URL``, ``GRADEBOT_DB_URL``
(required), ``GRADEBOT_VISIBILITY_TIMEOUT`` (s, default wall_seconds + 600), ``GRADEBOT_CLAIM_LEASE`` (s, default
lease_seconds), ``GRADEBOT_SWEEP_INTERVAL`` (s, default 15), ``GRADEBOT_UNACKED_RESTORE_INTERVAL`` (s, default 10),
``GRADEBOT_QUEUE`` (default ``gradebot``).

Watching the queue: ``celery -A gradebot.backends.celery_backend:app inspect active`` / ``inspect reserved`` /
``events`` (after ``control enable_events``), or flower.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from celery import Celery, signals

from gradebot.backends.base import QueueBackend
from gradebot.core.errors import ConfigError
from gradebot.sqlstore import DATABASE_ERRORS, SqlStore, database_lock, normalize_url

if TYPE_CHECKING:
    from collections.abc import Mapping
    from contextlib import AbstractContextManager

    from gradebot.config import Config

log = logging.getLogger("gradebot.celery")

TASK_NAME = "gradebot.grade"
# Redis transport: a message's priority picks one of the queue's lists (kombu's priority_steps 0, 3, 6, 9) and
# workers pop them in that order, 0 first; new submissions go at the default 0, regrades at 9 (behind them)
REGRADE_PRIORITY = 9


# ---------------------------------------------------------------------------------------------- settings
@dataclass
class CelerySettings:
    broker_url: str
    db_url: str
    visibility_timeout: float
    claim_lease: float
    sweep_interval: float
    unacked_restore_interval: int
    queue: str

    @classmethod
    def from_config(cls, config: Config, environ: Mapping[str, str] | None = None) -> "CelerySettings":
        env = os.environ if environ is None else environ

        def get(name: str, default: Any = None) -> Any:
            v = getattr(config, name, None)
            if v in (None, ""):
                v = env.get("GRADEBOT_" + name.upper())
            return default if v in (None, "") else v

        def num(name: str, default: float) -> float:
            v = get(name, default)
            try:
                return float(v)
            except (TypeError, ValueError):
                raise ConfigError(f"GRADEBOT_{name.upper()}={v!r}: expected a number of seconds") from None

        broker = get("broker_url")
        if not broker:
            raise ConfigError(
                "backend=celery needs GRADEBOT_BROKER_URL=redis://host:port/db "
                "(scripts/start_services.sh prints one for a local trial)"
            )
        if not str(broker).startswith(("redis://", "rediss://", "redis+socket://")):
            raise ConfigError(
                f"GRADEBOT_BROKER_URL={broker!r}: the celery backend is built and tested for a Redis "
                "broker (redis://host:port/db)"
            )
        db = get("db_url")
        normalize_url(db)  # raises a clear ConfigError if missing or not PostgreSQL
        vt = num("visibility_timeout", float(config.wall_seconds) + 600.0)
        lease = num("claim_lease", float(config.lease_seconds))
        if lease >= vt:
            raise ConfigError(f"claim_lease={lease:g} s must be shorter than visibility_timeout={vt:g} s")
        s = cls(
            broker_url=str(broker),
            db_url=str(db),
            visibility_timeout=vt,
            claim_lease=lease,
            sweep_interval=num("sweep_interval", 15.0),
            unacked_restore_interval=int(num("unacked_restore_interval", 10.0)),
            queue=str(get("queue", "gradebot")),
        )
        return s


def celery_conf(s: CelerySettings) -> dict:
    """The Celery configuration gradebot relies on (one place, also used by ``celery -A ...:app``)."""
    return dict(
        broker_url=s.broker_url,
        broker_transport_options={
            # a message delivered to a worker that vanished is re-delivered after this many seconds: longer than
            # the longest grading job (wall_seconds), else a running job gets a (harmless, dropped) duplicate
            "visibility_timeout": s.visibility_timeout,
            # how often a worker scans the unacked set for expired messages (kombu >= 5.7); scan on every tick
            "unacked_restore_interval": s.unacked_restore_interval,
            "unacked_restore_throttle": 1,
            "socket_connect_timeout": 5,
        },
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,  # a worker waits for a restarted broker forever
        broker_connection_timeout=5,
        task_acks_late=True,  # ack only after the result is committed
        task_reject_on_worker_lost=True,  # a killed pool process: re-queue its message
        task_acks_on_failure_or_timeout=True,  # an exception is final (process_submission records it)
        worker_prefetch_multiplier=1,  # hold one message per pool process, no more
        worker_cancel_long_running_tasks_on_connection_loss=False,  # broker blip: let the job finish
        task_default_queue=s.queue,
        task_routes={TASK_NAME: {"queue": s.queue}},
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,  # results live in PostgreSQL, not in a result backend
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 3, "interval_start": 0.2, "interval_step": 0.5, "interval_max": 1.0},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_max_tasks_per_child=200,  # recycle pool processes now and then
        enable_utc=True,
    )


# ---------------------------------------------------------------------------------------------- the Celery app
app = Celery("gradebot")
if os.environ.get("GRADEBOT_BROKER_URL"):
    # ``celery -A gradebot.backends.celery_backend:app inspect active`` uses the broker of the environment
    app.conf.broker_url = os.environ["GRADEBOT_BROKER_URL"]
    app.conf.task_default_queue = os.environ.get("GRADEBOT_QUEUE", "gradebot")


def configure_app(s: CelerySettings) -> Celery:
    """Configure the module's app (the one workers and ``celery -A`` use; one broker per process)."""
    app.conf.update(celery_conf(s))
    return app


def make_app(s: CelerySettings) -> Celery:
    """A separate app for a front end's publishing: Celery caches its broker connection pool per app, so two
    backends in one process (tests, benchmarks) must not share one."""
    a = Celery("gradebot-front", set_as_current=False)
    a.conf.update(celery_conf(s))
    return a


# ---------------------------------------------------------------------------------------------- worker runtime
class WorkerRuntime:
    """Per worker *process* state (a Celery prefork child): config, store, sandbox slot, worker name."""

    _instance: "WorkerRuntime | None" = None
    _pid: int | None = None
    _lock = threading.Lock()

    def __init__(self):
        from gradebot.config import Config
        from gradebot.core.sandbox import acquire_slot

        self.config = Config.from_env()
        self.settings = CelerySettings.from_config(self.config)
        self.store = open_store(self.settings)
        use_store_gradebook(self.config, self.store)
        self.slot = acquire_slot()
        self.name = f"{socket.gethostname()}:{os.getpid()}"
        log.info(
            "gradebot worker process %s ready (sandbox slot %d, work_dir %s)",
            self.name,
            self.slot,
            self.config.work_dir,
        )

    @classmethod
    def get(cls) -> "WorkerRuntime":
        with cls._lock:
            if cls._instance is None or cls._pid != os.getpid():
                cls._instance = cls()
                cls._pid = os.getpid()
            return cls._instance

    def handle(self, submission_id: int, hostname: str | None = None) -> str:
        """Claim, grade (via the core's process_submission) and release one submission. Idempotent."""
        from gradebot.core.jobs import process_submission

        store, lease = self.store, self.settings.claim_lease
        worker = f"{hostname or socket.gethostname()}/{os.getpid()}"
        token = store.claim(submission_id, worker, lease)
        if token is None:
            sub = store.get_submission(submission_id)
            state = "missing" if sub is None else sub.status
            if state in ("done", "failed", "missing"):
                log.info("submission %s: duplicate delivery dropped (already %s)", submission_id, state)
                return "skipped"
            # another live worker grades it: this message may be the only one left for it (Redis restores an
            # unacked message after visibility_timeout even if its worker still runs), so do not drop it:
            # the task re-schedules it and it is dropped once the submission is finished
            log.info("submission %s: claimed by a live worker; checking again in %.0f s", submission_id, lease)
            return BUSY
        stop = threading.Event()

        def heartbeat() -> None:
            while not stop.wait(lease / 3.0):
                try:
                    if not store.heartbeat(submission_id, token):
                        log.warning("submission %s: claim %s was taken over", submission_id, token)
                        return
                except Exception as exc:  # noqa: BLE001 - database blip: try again at the next beat
                    log.warning("heartbeat of submission %s failed: %s", submission_id, exc)

        hb = threading.Thread(target=heartbeat, name=f"gb-heartbeat-{submission_id}", daemon=True)
        hb.start()
        outcome = "error"
        store.token = token
        try:
            outcome = process_submission(self.config, store, submission_id, slot=self.slot, read_blob=store.get_blob)
            return outcome
        finally:
            store.token = None
            stop.set()
            hb.join(5)
            try:
                store.release(submission_id, token, outcome)
            except Exception as exc:  # noqa: BLE001 - the claim then just expires
                log.warning("could not release the claim of submission %s: %s", submission_id, exc)


BUSY = "busy"
DB_RETRY_SECONDS = 5.0


@app.task(name=TASK_NAME, bind=True, acks_late=True, reject_on_worker_lost=True, ignore_result=True, max_retries=None)
def grade_submission(self, submission_id: int) -> str:
    """The one task: grade stored submission ``submission_id`` (the message carries nothing else).

    The message is acknowledged only when the submission is finished (or found finished). While another live
    worker holds the claim, the task re-schedules itself (``retry``: a new message, then the ack). If PostgreSQL
    is unreachable, the message is rejected back to the queue after a pause, never acknowledged."""
    from celery.exceptions import Reject

    try:
        runtime = WorkerRuntime.get()
        outcome = runtime.handle(int(submission_id), self.request.hostname)
    except DATABASE_ERRORS as exc:
        log.warning(
            "submission %s: database unavailable (%s); back to the queue in %.0f s",
            submission_id,
            str(exc).strip()[:200],
            DB_RETRY_SECONDS,
        )
        time.sleep(DB_RETRY_SECONDS)
        raise Reject(str(exc)[:200], requeue=True) from exc
    if outcome == BUSY:
        raise self.retry(countdown=runtime.settings.claim_lease)
    return outcome


@signals.worker_process_init.connect
def _init_pool_process(**_kwargs) -> None:
    """Open the store and take a sandbox slot as soon as a pool process starts (not at its first job)."""
    if os.environ.get("GRADEBOT_BACKEND", "") == "celery":
        try:
            WorkerRuntime.get()
        except Exception as exc:  # noqa: BLE001 - the first task will raise it again, with context
            log.error("worker process init failed: %s", exc)


def message_submission(raw: Any) -> int | None:
    """The submission id a raw kombu message of :data:`TASK_NAME` carries (its JSON envelope as the queue holds
    it, or already decoded as in the unacked hash; Celery protocol 2: the body is ``[args, kwargs, embed]``), or
    None for any other or unreadable message."""
    try:
        msg = raw if isinstance(raw, dict) else json.loads(raw)
        if msg.get("headers", {}).get("task") != TASK_NAME:
            return None
        body = msg["body"]
        if msg.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        return int(json.loads(body)[0][0])
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        return None


# ---------------------------------------------------------------------------------------------- gradebook
def open_store(settings: CelerySettings) -> SqlStore:
    """The shared store; notebook bytes go into the database (workers share no disk)."""
    return SqlStore(settings.db_url, blobs_in_db=True)


def use_store_gradebook(config: Config, store: SqlStore) -> None:
    """Point the course's main nbgrader gradebook at the store's database (unless the config names one) and
    serialize its writers across machines with a lock in the gradebook's database (the core's default is a file
    lock under ``data_dir``, which does not reach other machines)."""
    if not config.gradebook_url:
        config.gradebook_url = store.sqlalchemy_url
    from gradebot.core import gradebook

    gradebook.set_lock(gradebook_lock)


def gradebook_lock(cfg: Config) -> AbstractContextManager:
    """The lock "gradebook" in the main gradebook's database (PostgreSQL: an advisory lock)."""
    return database_lock(cfg.main_gradebook_url(), "gradebook")


def ensure_gradebook(config: Config, store: SqlStore) -> bool:
    """Make sure the PostgreSQL gradebook knows the assignment with the course's grade cells; if not, run
    ``nbgrader generate_assignment`` on a private copy of the course with ``db_url`` pointing at PostgreSQL (under
    an advisory lock: several workers may start at once). Returns True if it had to (re)generate."""
    import shutil
    import tempfile
    from pathlib import Path

    from nbgrader.api import Gradebook, MissingEntry

    from gradebot.core.course import course_build, course_facts, job_config_text
    from gradebot.core.errors import CourseError
    from gradebot.core.nbgrader_run import run_nbgrader

    want = course_facts(config.source_notebook).cells
    url = config.main_gradebook_url()

    def current() -> dict[str, float]:
        try:
            with Gradebook(url) as gb:
                nb = gb.find_notebook(config.notebook_id, config.assignment)
                return {c.name: float(c.max_score) for c in nb.grade_cells}
        except MissingEntry:
            return {}

    # everything under the lock: even opening a Gradebook creates nbgrader's tables, and two processes doing that
    # at once collide in PostgreSQL (CREATE TYPE ... already exists)
    with store.lock("gradebook"):
        if current() == want:
            return False
        build = course_build(config)
        tmp = Path(tempfile.mkdtemp(prefix="gb-pg-gradebook-", dir=config.work_dir))
        try:
            shutil.copytree(build / "source", tmp / "source")
            course_cfg = (build / "nbgrader_config.course.py").read_text()
            (tmp / "nbgrader_config.py").write_text(
                job_config_text(course_cfg, tmp) + f"c.CourseDirectory.db_url = {url!r}\n"
            )
            run = run_nbgrader(tmp, ["generate_assignment", config.assignment, "--force"], timeout=600)
            if not run.ok:
                raise CourseError(f"nbgrader generate_assignment into the PostgreSQL gradebook failed:\n{run.output}")
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("PostgreSQL gradebook: assignment %r (re)generated", config.assignment)
    return True


# ---------------------------------------------------------------------------------------------- the backend
class CeleryBackend(QueueBackend):
    """Front-end side of the distributed backend: PostgreSQL store, publishing to Redis, a sweeper.
    Workers are separate processes (``python -m gradebot worker`` -> :meth:`run_workers`) on any machine."""

    name = "celery"

    def __init__(self, config):
        super().__init__(config)
        self.settings = CelerySettings.from_config(config)
        self.app = make_app(self.settings)
        self._store: SqlStore | None = None
        self._sweeper: threading.Thread | None = None
        self._stopping: threading.Event | None = None
        self._missing: set[int] = set()  # unclaimed unfinished submissions the broker held no message of

    # ------------------------------------------------------------------ store and blobs
    def open_store(self) -> SqlStore:
        if self._store is None:
            self._store = open_store(self.settings)
            use_store_gradebook(self.config, self._store)
        return self._store

    def write_blob(self, data: bytes) -> tuple[str, str]:
        """Notebook bytes go to PostgreSQL (``gb_blobs``, committed), not to a local file."""
        return self.open_store().put_blob(data)

    def read_blob(self, path: str) -> bytes:
        return self.open_store().get_blob(path)

    # ------------------------------------------------------------------ queue
    def publish(self, submission_id: int, regrade: bool = False) -> None:
        """Hand one submission id to the broker (raises if the broker stays unreachable); a ``regrade`` goes at
        :data:`REGRADE_PRIORITY`, behind the students' new submissions."""
        extra = {"priority": REGRADE_PRIORITY} if regrade else {}
        self.app.send_task(TASK_NAME, args=[int(submission_id)], queue=self.settings.queue, **extra)

    def enqueue(self, submission_id: int, regrade: bool = False) -> None:
        """Publish; if the broker is down, log it and leave the submission to the sweeper (it is already durable
        in PostgreSQL, so the student's submit still succeeds)."""
        store = self.open_store()
        try:
            self.publish(submission_id, regrade=regrade)
        except Exception as exc:  # noqa: BLE001 - kombu raises several connection error types
            log.warning("broker unavailable, submission %s will be published by the sweeper: %s", submission_id, exc)
            store.note_enqueued(submission_id, published=False)
            return
        store.note_enqueued(submission_id, published=True)

    def enqueue_many(self, submission_ids: list[int]) -> None:
        """A regrade: each submission is published at :data:`REGRADE_PRIORITY`."""
        for sid in submission_ids:
            self.enqueue(sid, regrade=True)

    def _redis(self):
        import redis

        if getattr(self, "_redis_client", None) is None:
            self._redis_client = redis.Redis.from_url(
                self.settings.broker_url, socket_connect_timeout=5, socket_timeout=10
            )
        return self._redis_client

    @property
    def epoch_key(self) -> str:
        return f"gradebot:{self.settings.queue}:epoch"

    def broker_lost_data(self) -> bool:
        """True if the broker no longer has our marker key (it came back empty); sets a new marker. Called before
        re-publishing, so messages published afterwards belong to the new epoch."""
        import uuid

        return bool(self._redis().set(self.epoch_key, uuid.uuid4().hex, nx=True))

    def sweep(self) -> int:
        """Publish what the broker does not hold (see the module docstring). Returns how many were published.
        Several front processes may sweep at once; a try-lock in the database lets one of them do it."""
        store = self.open_store()
        with store.lock("sweep", wait=False) as got:
            return self._sweep(store) if got else 0

    def broker_holds(self) -> set[int]:
        """Submission ids of the gradebot messages the broker holds now: waiting in the queue (any priority list)
        or delivered to a worker and not yet acknowledged (kombu's ``unacked`` hash, put back in the queue after
        ``visibility_timeout`` if that worker died). Read in one MULTI/EXEC, so a message that moves from the
        queue to the unacked hash is seen in one of them."""
        from kombu.transport.redis import Channel

        q = self.settings.queue
        keys = [q] + [f"{q}{Channel.sep}{p}" for p in Channel.priority_steps if p]
        pipe = self._redis().pipeline(transaction=True)
        for key in keys:
            pipe.lrange(key, 0, -1)
        pipe.hvals(Channel.unacked_key)
        *queued, unacked = pipe.execute()
        raws = [m for lst in queued for m in lst]
        for entry in unacked:  # [message, exchange, routing key]
            try:
                raws.append(json.loads(entry)[0])
            except (ValueError, TypeError, IndexError, KeyError):
                continue
        return {sid for sid in map(message_submission, raws) if sid is not None}

    def _sweep(self, store: SqlStore) -> int:
        """One sweep, under the sweep lock."""
        lease = self.settings.claim_lease
        try:
            lost = self.broker_lost_data()
            held = set() if lost else self.broker_holds()
        except Exception as exc:  # noqa: BLE001 - broker down: nothing can be published now anyway
            log.warning("sweeper: broker unavailable (%s)", exc)
            return 0
        # read after the broker: a message taken by a worker since then is either still unacknowledged (held)
        # or its submission is claimed or finished by now (not a candidate)
        ids = store.to_publish(lease, broker_lost=lost)
        missing = set() if lost else set(store.to_publish(lease, broker_lost=True)) - held
        vanished = sorted((missing & self._missing) - set(ids))
        self._missing = missing
        if lost and ids:
            log.warning(
                "sweeper: the broker has no marker key (it lost its data or is new): re-publishing "
                "%d unfinished submission(s)",
                len(ids),
            )
        if vanished:
            log.warning(
                "sweeper: the broker holds no message of %d unfinished, unclaimed submission(s) on two "
                "sweeps in a row (lost in a broker crash): re-publishing %s",
                len(vanished),
                vanished,
            )
            ids = sorted(set(ids) | set(vanished))
        regrades = store.queued_regrades() if ids else set()
        n = 0
        for sid in ids:
            try:
                self.publish(sid, regrade=sid in regrades)
            except Exception as exc:  # noqa: BLE001
                log.warning("sweeper: broker unavailable (%s)", exc)
                if lost:  # not all were re-published: make the next sweep treat the broker as lost again
                    try:
                        self._redis().delete(self.epoch_key)
                    except Exception:  # noqa: BLE001 - then it is empty again anyway, or the marker
                        pass  # survives and the unpublished rows stay marked published=false
                break
            store.note_enqueued(sid, published=True)
            self._missing.discard(sid)
            n += 1
        if n:
            log.info("sweeper: published %d submission(s)", n)
        return n

    def start(self) -> None:
        """Resume (publish what was never published or was lost) and start the sweeper thread. No local workers:
        those run on worker machines."""
        if self._stopping is not None:
            return
        self.open_store()
        self._stopping = threading.Event()
        try:
            self.sweep()
        except Exception as exc:  # noqa: BLE001 - the sweeper thread tries again
            log.warning("initial sweep failed: %s", exc)
        self._sweeper = threading.Thread(
            target=self._sweep_loop, args=(self._stopping,), name="gradebot-sweeper", daemon=True
        )
        self._sweeper.start()

    def _sweep_loop(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.settings.sweep_interval):
            try:
                self.sweep()
            except Exception as exc:  # noqa: BLE001 - e.g. PostgreSQL restarting
                log.warning("sweep failed: %s", exc)

    def stop(self, timeout: float = 30.0) -> None:
        if self._stopping is None:
            return
        self._stopping.set()
        if self._sweeper is not None:
            self._sweeper.join(timeout)
        self._stopping = None
        self._sweeper = None
        self.app.close()  # release the broker connections of this front

    def queue_length(self) -> int:
        """Submissions waiting or being graded (from PostgreSQL: the broker's view may be partial)."""
        return self.open_store().unfinished_count()

    # ------------------------------------------------------------------ workers
    def run_workers(self) -> None:
        """Run a Celery worker in the foreground (``python -m gradebot worker``) with ``config.workers`` pool
        processes, consuming the gradebot queue of the configured broker. The PostgreSQL gradebook is prepared
        first."""
        run_worker(self.config)


def worker_argv(
    config: Config, settings: CelerySettings, hostname: str | None = None, loglevel: str = "INFO"
) -> list[str]:
    name = hostname or os.environ.get("GRADEBOT_WORKER_NAME") or f"gradebot-{os.getpid()}@{socket.gethostname()}"
    return [
        "worker",
        f"--loglevel={loglevel}",
        "--pool=prefork",
        f"--concurrency={int(config.workers)}",
        f"--queues={settings.queue}",
        f"--hostname={name}",
        "--without-gossip",
        "--without-mingle",
        "-O",
        "fair",
    ]


def run_worker(config: Config | None = None, argv_extra: list[str] | None = None) -> None:
    """Entry point for ``python -m gradebot worker`` with ``backend=celery`` (blocks until SIGTERM/SIGINT).

    Everything comes from the environment (``GRADEBOT_*``): broker, database, course, work_dir, workers."""
    from gradebot.config import Config

    config = config or Config.from_env()
    if config.backend != "celery":
        config = dataclasses.replace(config, backend="celery")
    os.environ["GRADEBOT_BACKEND"] = "celery"  # read again by every pool process (WorkerRuntime)
    for f in dataclasses.fields(config):  # pool processes rebuild the Config from the environment
        v = getattr(config, f.name)
        if v is not None and f.name not in ("telegram_token",):
            os.environ.setdefault("GRADEBOT_" + f.name.upper(), str(v))
    logging.basicConfig(
        level=os.environ.get("GRADEBOT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(processName)s %(levelname)s %(name)s: %(message)s",
    )
    settings = CelerySettings.from_config(config)
    configure_app(settings)
    from gradebot.core.sandbox import check_sandbox

    check_sandbox(config, config.work_dir)  # fail closed before taking any job
    store = open_store(settings)
    use_store_gradebook(config, store)
    ensure_gradebook(config, store)
    store.close()
    app.worker_main(worker_argv(config, settings) + list(argv_extra or []))


def main(argv: list[str] | None = None) -> int:
    """``python -m gradebot.backends.celery_worker worker|sweep|init-gradebook`` (until the core's CLI
    dispatches ``python -m gradebot worker`` to :meth:`CeleryBackend.run_workers`)."""
    import argparse
    from gradebot.config import Config

    p = argparse.ArgumentParser(prog="python -m gradebot.backends.celery_worker")
    p.add_argument("command", choices=["worker", "sweep", "init-gradebook"])
    args, rest = p.parse_known_args(argv)
    config = Config.from_env(backend="celery")
    if args.command == "worker":
        run_worker(config, rest)
        return 0
    backend = CeleryBackend(config)
    store = backend.open_store()
    if args.command == "sweep":
        print(backend.sweep())
    else:
        print("regenerated" if ensure_gradebook(config, store) else "up to date")
    return 0
