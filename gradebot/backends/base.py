"""The queue backend interface: the one seam between the core and how jobs travel to workers.

Two implementations: ``embedded`` (the store in a local database file, its job table as the queue, local worker
processes, :mod:`gradebot.backends.embedded`) and ``celery`` (Celery + Redis broker, the store on a database
server, :mod:`gradebot.backends.celery_backend`). Both use the one store, :class:`gradebot.sqlstore.SqlStore`.
Nothing outside ``gradebot/backends/`` names either; the core calls :func:`gradebot.backends.load_backend`.

What a backend must provide
---------------------------
``open_store() -> Store``
    The durable store of students/submissions/results (:class:`gradebot.core.store.Store`). Embedded: a
    database file in ``data_dir``; distributed: a database server. Submitted notebook files are written by the
    core under ``<data_dir>/submissions`` before ``Store.add_submission``; a distributed backend needs that dir
    on shared storage (or must override :meth:`QueueBackend.write_blob`/:meth:`QueueBackend.read_blob`).

``enqueue(submission_id)``
    Called after the submission row is committed. Must be durable and idempotent (enqueueing an id twice is
    harmless). At-least-once delivery is fine: the job handler is idempotent.

``start()``
    Start the workers this process owns (embedded: ``config.workers`` local processes) and re-enqueue every
    unfinished submission of the store (``store.unfinished_ids()``) so nothing acknowledged is lost after a crash
    between commit and enqueue. ``stop()`` stops them. ``run_workers()`` runs workers in the foreground until
    interrupted (``python -m gradebot worker``).

The job itself
--------------
Every worker, whatever the transport, calls :func:`gradebot.core.jobs.process_submission(config, store,
submission_id, slot)` for each delivered id and acknowledges the message only after it returns. It is
idempotent: it returns at once for a finished submission, marks the submission ``grading`` and counts a delivery,
gives up with status ``failed`` after ``config.max_deliveries`` deliveries (a notebook that keeps killing its
worker), grades in the sandbox, and records the result with ``store.finish`` (compare-and-set: a redelivered job
never creates a second result). ``slot`` is a small integer unique among the workers running at once on one
host (it selects the sandbox uid). A crashed worker's job must be re-delivered (embedded: the claim is a lease
renewed by a heartbeat, both in the store's ``gb_claims``; Celery: ``acks_late=True`` +
``reject_on_worker_lost=True`` + visibility timeout).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from gradebot.core.store import Store, write_blob


class QueueBackend(ABC):
    name = "abstract"

    def __init__(self, config):
        self.config = config

    @abstractmethod
    def open_store(self) -> Store: ...

    @abstractmethod
    def enqueue(self, submission_id: int) -> None: ...

    def enqueue_many(self, submission_ids: list[int]) -> None:
        """:meth:`enqueue` each of many submissions (a regrade); a backend may do it in one go."""
        for sid in submission_ids:
            self.enqueue(sid)

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def stop(self, timeout: float = 30.0) -> None: ...

    @abstractmethod
    def run_workers(self) -> None: ...

    def queue_length(self) -> int:
        """Jobs waiting or running (best effort, for status pages)."""
        return 0

    def worker_pids(self) -> list[int]:
        """Process ids of local workers (embedded; empty for remote workers)."""
        return []

    # blobs: local files by default
    def write_blob(self, data: bytes) -> tuple[str, str]:
        return write_blob(Path(self.config.data_path) / "submissions", data)

    def read_blob(self, path: str) -> bytes:
        return Path(path).read_bytes()
