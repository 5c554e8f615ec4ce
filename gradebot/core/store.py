"""The store interface: students, submissions and results, durable.

A queue backend (``gradebot.backends``) supplies the implementation through ``backend.open_store()``; both use
:class:`gradebot.sqlstore.SqlStore` (a local database file for the embedded backend, a database server for
Celery). The core only calls the methods below.

Contract every implementation keeps:
- ``add_submission`` returns only after the row is committed (durable); the file it points to was already
  written durably by :func:`write_blob`.
- ``finish`` is a compare-and-set: it records a result only if the submission is not yet done/failed and returns
  whether it did, so a redelivered job never creates a second result.
- Times are timezone-aware UTC datetimes, all of one clock: the database's (:meth:`Store.now`). The store stamps
  what it writes with it; the times the service passes in (``created_at``, the throttle's ``now``, ``since``)
  come from it too (the service's default clock), so fronts and workers on machines whose clocks disagree decide
  alike.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path

from gradebot.core.models import Result, Student, Submission


class Store(ABC):
    # Exceptions that mean "the store is unreachable for now" (a database outage), not "this submission is bad":
    # process_submission lets them through so the backend retries the job instead of recording a failure.
    transient_errors: tuple[type[BaseException], ...] = ()

    # ---- coordination
    @abstractmethod
    def lock(self, name: str, wait: bool = True) -> AbstractContextManager[bool]:
        """A lock named ``name`` shared by every process on every machine using this store; the context yields
        whether it was taken (always True when ``wait``)."""

    # ---- time
    @abstractmethod
    def now(self) -> datetime:
        """The store's clock: the database's current time (aware UTC), the one clock every time stamp comes from."""

    # ---- students
    @abstractmethod
    def upsert_students(self, students: list[Student]) -> int:
        """Insert or update (name, group) by student_id; keeps Telegram links. A student's ``code_hash`` is set
        when given; otherwise an existing student keeps theirs and a new one has none (the service issues codes:
        :meth:`gradebot.core.service.GradingService.import_roster`). Returns rows written."""

    @abstractmethod
    def set_code_hash(self, student_id: str, code_hash: str) -> None:
        """Replace the student's access code hash; UnknownStudent if the id is not in the roster."""

    @abstractmethod
    def get_student(self, student_id: str) -> Student | None: ...

    @abstractmethod
    def link_telegram(self, student_id: str, telegram_user_id: int) -> Student:
        """Atomically link; raises RegistrationError if the id is unknown, linked to another account, or the
        account is linked to another id. Linking the same pair again is a no-op."""

    @abstractmethod
    def student_by_telegram(self, telegram_user_id: int) -> Student | None: ...

    @abstractmethod
    def list_students(self) -> list[Student]: ...

    # ---- throttling of wrong access codes (keys: gradebot.core.access.student_key / client_key)
    @abstractmethod
    def login_lock(self, keys: list[str], now: datetime) -> float:
        """Seconds until the longest lock among ``keys`` ends (0: none is locked)."""

    @abstractmethod
    def record_login_failure(self, rules: dict, now: datetime) -> float:
        """Count one wrong code for every key of ``rules`` ({key: gradebot.core.access.ThrottleRule}), atomically
        across processes; returns the seconds of the longest lock this failure started (0: none)."""

    @abstractmethod
    def clear_login_failures(self, keys: list[str]) -> None:
        """Forget the wrong codes of ``keys`` (a successful login, a re-issued code)."""

    # ---- submissions
    @abstractmethod
    def add_submission(
        self,
        student_id: str,
        filename: str,
        blob_path: str,
        sha256: str,
        size: int,
        source: str,
        late: bool,
        created_at: datetime,
    ) -> Submission:
        """Insert a queued submission; committed before returning."""

    @abstractmethod
    def get_submission(self, submission_id: int) -> Submission | None: ...

    @abstractmethod
    def get_submissions(self, submission_ids: list[int]) -> dict[int, Submission]:
        """{id: submission} of the given ids that exist, read together (one query per 500 ids): a front end that
        waits for many results polls them with one read."""

    @abstractmethod
    def blob_path(self, submission_id: int) -> str: ...

    @abstractmethod
    def list_submissions(self, student_id: str | None = None) -> list[Submission]:
        """Oldest first; all students if ``student_id`` is None."""

    @abstractmethod
    def submission_times_since(self, student_id: str, since: datetime) -> list[datetime]: ...

    @abstractmethod
    def unfinished_ids(self) -> list[int]:
        """Ids of submissions with status queued or grading (to re-enqueue after a crash)."""

    @abstractmethod
    def mark_grading(self, submission_id: int) -> int:
        """Set status grading (unless finished) and count one more delivery; returns the delivery count."""

    @abstractmethod
    def finish(
        self, submission_id: int, status: str, result: Result | None, error: str | None, feedback_html: str | None
    ) -> bool:
        """Record the outcome if not yet done/failed. Returns True if this call recorded it."""

    @abstractmethod
    def feedback_html(self, submission_id: int) -> str | None: ...

    # ---- instructor actions: regrading and deadline extensions
    @abstractmethod
    def requeue_for_regrade(self, items: list[tuple[int, bool]], batch: str, scope: str) -> list[int]:
        """For each ``(submission_id, late)`` of a *finished* submission, in one transaction: log its current
        result, feedback and late flag in the regrade history under ``batch`` (``scope`` says what was asked),
        remove the result and put the submission back to ``queued`` (deliveries 0, ``late`` as given: the rules in
        force now), so the usual job grades it again and ``finish`` records the new result. Unfinished or unknown
        submissions are skipped. Returns the ids requeued; the caller enqueues them."""

    @abstractmethod
    def regrade_progress(self, batch: str) -> dict:
        """``{"batch", "scope", "requested_at", "total", "queued", "grading", "done", "failed"}`` of a regrade
        batch (counts by the submissions' current status); ``total`` is 0 for an unknown batch."""

    @abstractmethod
    def regrade_history(self, submission_id: int) -> list[dict]:
        """The results a submission had before each regrade, oldest first: ``{"batch", "scope", "requested_at",
        "status", "late", "result": Result | None, "recorded_at"}``."""

    @abstractmethod
    def regrade_counts(self) -> dict[int, int]:
        """{submission id: how many times it was regraded} for every regraded submission."""

    @abstractmethod
    def regrades_after(self, after: int, limit: int = 1000) -> list[dict]:
        """The regrade requests logged after the one with id ``after`` (0: from the first), oldest first, at most
        ``limit``: ``{"id", "submission_id", "student_id", "status", "result": Result | None}`` (the status and
        result the submission had before). Front ends follow new regrades with it (:meth:`last_regrade`)."""

    @abstractmethod
    def last_regrade(self) -> int:
        """The id of the latest regrade request (0 if there is none): where :meth:`regrades_after` starts."""

    @abstractmethod
    def set_extension(self, student_id: str, deadline: datetime | None) -> None:
        """Give the student their own deadline (None: remove it, the course deadline applies again). Raises
        UnknownStudent for an id not in the roster."""

    @abstractmethod
    def extensions(self) -> dict[str, datetime]:
        """{student id: own deadline} of every student who has one."""

    def extension(self, student_id: str) -> datetime | None:
        """The student's own deadline, if the instructor set one."""
        return self.extensions().get(student_id)

    @abstractmethod
    def revoke_session(self, nonce: str, expires_at: datetime) -> None:
        """Remember that the session ``nonce`` ended (a logout) until ``expires_at``, when it would have expired
        anyway; expired entries are forgotten."""

    @abstractmethod
    def session_revoked(self, nonce: str) -> bool:
        """Whether the session ``nonce`` was ended by :meth:`revoke_session` (in any process)."""

    @abstractmethod
    def close(self) -> None: ...


def write_blob(directory: Path, data: bytes, suffix: str = ".ipynb") -> tuple[str, str]:
    """Write ``data`` durably under ``directory`` (tmp file, fsync, rename, fsync dir). Returns (path, sha256)."""
    directory.mkdir(parents=True, exist_ok=True)
    sha = hashlib.sha256(data).hexdigest()
    final = directory / f"{sha[:16]}-{uuid.uuid4().hex[:8]}{suffix}"
    tmp = final.with_suffix(final.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return str(final), sha
