"""The store on SQLAlchemy Core: :class:`SqlStore` implements :class:`gradebot.core.store.Store` for a local
database file (SQLite: the embedded backend) and a database server (PostgreSQL: the Celery backend), plus the job
bookkeeping both queue backends share (jobs, claims, attempts) and notebook bytes kept in the database.

Opening a store migrates its database (:mod:`gradebot.sqlstore.migrations`). Connections come from the engine's
pool (thread-safe); a forked child process gets an engine of its own and never touches its parent's connections.
Every write is one transaction, committed before the method returns (SQLite: WAL with ``synchronous=FULL``).

One clock, the database's (:func:`gradebot.sqlstore.dialect.now`, offered as :meth:`SqlStore.now`), never a
front's or a worker's: a time stamp the store writes (claims, heartbeats, attempts, jobs' ``enqueued_at``, results'
``finished_at``/``recorded_at``, regrades' ``requested_at``, blobs' ``created_at``, extensions' ``granted_at``) is
read from it once inside the writing transaction, and so is the time the store compares with (leases, the expiry
of revoked sessions, :meth:`SqlStore.to_publish`'s grace). The times callers pass in (a submission's
``created_at``, the login throttle's ``now``, the rate limit's ``since``) are the service's clock, which is this
one (:attr:`gradebot.core.service.GradingService.clock`): machines whose clocks disagree still agree on leases,
deadlines, rate limits and which submission is lost.

Claims: a worker grading a submission holds a row in ``gb_claims`` with a random attempt token and a heartbeat;
a claim whose heartbeat is older than the lease belongs to a dead worker and is taken over (its attempt is logged
as ``lost``). :meth:`SqlStore.claim` claims a given submission (the Celery backend: the broker delivered its id);
:meth:`SqlStore.claim_next` takes the next queued job that no live worker holds (the embedded backend: the
``gb_jobs`` table is its queue), new submissions before regrades, each oldest first (:func:`queue_order`). Row
locks (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, a ``BEGIN IMMEDIATE`` transaction on SQLite) keep two workers
from claiming one job.
"""

from __future__ import annotations

import hashlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from gradebot.core import access
from gradebot.core.errors import RegistrationError, UnknownStudent
from gradebot.core.models import Result, Student, Submission
from gradebot.core.store import Store
from gradebot.sqlstore import dialect
from gradebot.sqlstore import tables as t
from gradebot.sqlstore.migrations import migrate

BLOB_PREFIX = "dbblob:"


def blob_ref(blob_id: int) -> str:
    """The reference ``Store.blob_path`` returns for notebook bytes kept in the database."""
    return f"{BLOB_PREFIX}{int(blob_id)}"


def parse_blob_ref(ref: str) -> int:
    if not str(ref).startswith(BLOB_PREFIX):
        raise ValueError(f"{ref!r} is not a reference to notebook bytes in the store ({BLOB_PREFIX}<id>)")
    return int(str(ref)[len(BLOB_PREFIX) :])


def is_regrade(submission_id: sa.ColumnElement) -> sa.ColumnElement:
    """SQL: the queued submission is there for a regrade. A submission gets a ``gb_regrades`` row only when a
    finished one goes back to the queue, so an unfinished one has a row exactly when a regrade queued it."""
    return sa.select(t.regrades.c.id).where(t.regrades.c.submission_id == submission_id).exists()


def queue_order(submission_id: sa.ColumnElement) -> tuple[sa.ColumnElement, sa.ColumnElement]:
    """ORDER BY of the queue: new submissions (students waiting) before regrades, each oldest first."""
    return sa.case((is_regrade(submission_id), 1), else_=0), submission_id


IN_LIST = 500  # ids per IN (...) list: statements stay small whatever the class size


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    """``ids`` in slices of at most :data:`IN_LIST` (one bounded ``IN`` list each)."""
    for start in range(0, len(ids), IN_LIST):
        yield ids[start : start + IN_LIST]


def _note_job(c: sa.Connection, submission_id: int, now: datetime, published: bool) -> None:
    """Upsert the submission's ``gb_jobs`` row: enqueued at ``now``; ``published`` counted in ``publishes``."""
    ins = dialect.insert(c, t.jobs).values(
        submission_id=submission_id, enqueued_at=now, published=published, publishes=1 if published else 0
    )
    c.execute(
        ins.on_conflict_do_update(
            index_elements=[t.jobs.c.submission_id],
            set_={
                "enqueued_at": ins.excluded.enqueued_at,
                "published": ins.excluded.published,
                "publishes": t.jobs.c.publishes + ins.excluded.publishes,
            },
        )
    )


_STUDENT_COLS = (
    t.students.c.student_id,
    t.students.c.name,
    t.students.c.grp,
    t.students.c.telegram_user_id,
    t.students.c.code_hash,
)
_SUB = t.submissions.c
_LF = t.login_failures.c
_SUBMISSION_COLS = (
    _SUB.id,
    _SUB.student_id,
    _SUB.filename,
    _SUB.created_at,
    _SUB.status,
    _SUB.late,
    t.results.c.result,
    _SUB.error,
    _SUB.source,
    _SUB.finished_at,
    _SUB.deliveries,
)
_SUBMISSIONS = t.submissions.outerjoin(t.results, t.results.c.submission_id == _SUB.id)


def _student(row) -> Student | None:
    if row is None:
        return None
    return Student(student_id=row[0], name=row[1], group=row[2], telegram_user_id=row[3], code_hash=row[4])


def _submission(row) -> Submission | None:
    if row is None:
        return None
    return Submission(
        id=int(row[0]),
        student_id=row[1],
        filename=row[2],
        created_at=row[3],
        status=row[4],
        late=bool(row[5]),
        result=Result.from_store(row[6]),
        error=row[7],
        source=row[8],
        finished_at=row[9],
        deliveries=int(row[10]),
    )


class SqlStore(Store):
    """The store in the database at ``url``: ``sqlite:///path`` (see :meth:`in_file`) or any PostgreSQL URL
    spelling. ``blobs_in_db``: :meth:`add_submission` moves the bytes of a local notebook file into the database
    (for workers on other machines); references made by :meth:`put_blob` are stored as they are either way."""

    transient_errors = dialect.TRANSIENT_ERRORS

    def __init__(self, url: str, *, blobs_in_db: bool = False):
        self.sqlalchemy_url = dialect.database_url(url)
        self.url = str(url)
        self.blobs_in_db = blobs_in_db
        self.token: str | None = None  # attempt token of the job this process is running (set by a worker)
        self._lock = threading.Lock()
        self._engine_pid: int | None = None
        self._engine_obj: sa.engine.Engine | None = None
        migrate(self._engine())

    @classmethod
    def in_file(cls, path: Path | str, **kwargs: Any) -> "SqlStore":
        """A store in one local database file (created if missing)."""
        return cls(dialect.file_url(path), **kwargs)

    def _engine(self) -> sa.engine.Engine:
        with self._lock:
            if self._engine_obj is None or self._engine_pid != os.getpid():
                if self._engine_obj is not None:
                    self._engine_obj.dispose(close=False)  # inherited through fork: leave the parent's sockets
                self._engine_obj = dialect.make_engine(self.sqlalchemy_url)
                self._engine_pid = os.getpid()
            return self._engine_obj

    def _read(self):
        return dialect.read(self._engine())

    def _write(self):
        return dialect.write(self._engine())

    def now(self) -> datetime:
        """The store's clock: the database's current time (:func:`gradebot.sqlstore.dialect.now`)."""
        with self._read() as c:
            return dialect.now(c)

    @contextmanager
    def lock(self, name: str, wait: bool = True) -> Iterator[bool]:
        """A lock named ``name`` shared by every process on every machine using this database; yields whether it
        was taken (always True when ``wait``)."""
        with dialect.named_lock(self._engine(), name, wait) as got:
            yield got

    # ------------------------------------------------------------------ students
    def upsert_students(self, students: list[Student]) -> int:
        s = t.students
        with self._write() as c:
            for st in students:
                # a given code hash is set; otherwise a new student has none and an existing one keeps theirs
                ins = dialect.insert(c, s).values(
                    student_id=st.student_id, name=st.name, grp=st.group, code_hash=st.code_hash
                )
                code = ins.excluded.code_hash if st.code_hash else s.c.code_hash
                c.execute(
                    ins.on_conflict_do_update(
                        index_elements=[s.c.student_id],
                        set_={"name": ins.excluded.name, "grp": ins.excluded.grp, "code_hash": code},
                    )
                )
        return len(students)

    def set_code_hash(self, student_id: str, code_hash: str) -> None:
        with self._write() as c:
            done = c.execute(
                sa.update(t.students).where(t.students.c.student_id == student_id).values(code_hash=code_hash)
            )
            if done.rowcount != 1:
                raise UnknownStudent(student_id)

    def _one_student(self, where) -> Student | None:
        with self._read() as c:
            return _student(c.execute(sa.select(*_STUDENT_COLS).where(where)).first())

    def get_student(self, student_id: str) -> Student | None:
        return self._one_student(t.students.c.student_id == student_id)

    def student_by_telegram(self, telegram_user_id: int) -> Student | None:
        return self._one_student(t.students.c.telegram_user_id == int(telegram_user_id))

    def list_students(self) -> list[Student]:
        with self._read() as c:
            rows = c.execute(sa.select(*_STUDENT_COLS).order_by(t.students.c.student_id)).all()
        return [_student(r) for r in rows]

    def link_telegram(self, student_id: str, telegram_user_id: int) -> Student:
        tg = int(telegram_user_id)
        s = t.students
        with self._write() as c:
            row = c.execute(sa.select(*_STUDENT_COLS).where(s.c.student_id == student_id).with_for_update()).first()
            if row is None:
                raise RegistrationError(f"unknown student id {student_id!r}: check it or ask the instructor")
            other = c.execute(sa.select(s.c.student_id).where(s.c.telegram_user_id == tg)).scalar()
            if other is not None and other != student_id:
                raise RegistrationError(f"this Telegram account is already linked to student {other!r}")
            if row[3] is not None and row[3] != tg:
                raise RegistrationError(
                    f"student {student_id!r} is already linked to another Telegram account; "
                    "ask the instructor to unlink it"
                )
            # the UNIQUE constraint settles a race between two ids claiming one account at once
            c.execute(sa.update(s).where(s.c.student_id == student_id).values(telegram_user_id=tg))
        return Student(row[0], row[1], row[2], tg, code_hash=row[4])

    # ------------------------------------------------------------------ throttling of wrong access codes
    def login_lock(self, keys: list[str], now: datetime) -> float:
        with self._read() as c:
            until = c.execute(
                sa.select(sa.func.max(_LF.locked_until)).where(_LF.key.in_(list(keys)), _LF.locked_until > now)
            ).scalar()
        return max(0.0, (until - now).total_seconds()) if until is not None else 0.0

    def record_login_failure(self, rules: dict[str, access.ThrottleRule], now: datetime) -> float:
        """One transaction: the row of every key is locked (PostgreSQL ``FOR UPDATE``; SQLite: the write
        transaction), so concurrent failures from several processes are all counted."""
        lf = t.login_failures
        longest = 0.0
        with self._write() as c:
            c.execute(sa.delete(lf).where(lf.c.expires_at < now))  # forget what has expired
            for key, rule in sorted(rules.items()):
                if not rule.enabled:
                    continue
                c.execute(
                    dialect.insert(c, lf)
                    .values(key=key, failures=0, last_failure_at=now, expires_at=now)
                    .on_conflict_do_nothing(index_elements=[lf.c.key])
                )
                failures, last, locked = c.execute(
                    sa.select(lf.c.failures, lf.c.last_failure_at, lf.c.locked_until)
                    .where(lf.c.key == key)
                    .with_for_update()
                ).one()
                quiet_since = max(last, locked) if locked is not None else last
                if (now - quiet_since).total_seconds() > rule.window:
                    failures = 0  # forgotten: a fresh count
                failures += 1
                lock = access.lock_seconds(failures, rule)
                until = now + timedelta(seconds=lock) if lock else locked
                c.execute(
                    sa.update(lf)
                    .where(lf.c.key == key)
                    .values(
                        failures=failures,
                        last_failure_at=now,
                        locked_until=until,
                        expires_at=max(now, until or now) + timedelta(seconds=rule.window),
                    )
                )
                longest = max(longest, lock)
        return longest

    def clear_login_failures(self, keys: list[str]) -> None:
        with self._read() as c:  # the usual case, nothing to forget, takes no write lock
            if c.execute(sa.select(_LF.key).where(_LF.key.in_(list(keys))).limit(1)).first() is None:
                return
        with self._write() as c:
            c.execute(sa.delete(t.login_failures).where(_LF.key.in_(list(keys))))

    # ------------------------------------------------------------------ blobs (notebook bytes in the database)
    def put_blob(self, data: bytes) -> tuple[str, str]:
        """Store ``data`` (committed before returning). Returns (reference ``dbblob:<id>``, sha256 hex)."""
        sha = hashlib.sha256(data).hexdigest()
        with self._write() as c:
            res = c.execute(
                sa.insert(t.blobs).values(sha256=sha, size=len(data), data=bytes(data), created_at=dialect.now(c))
            )
            blob_id = res.inserted_primary_key[0]
        return blob_ref(blob_id), sha

    def get_blob(self, ref: str) -> bytes:
        with self._read() as c:
            data = c.execute(sa.select(t.blobs.c.data).where(t.blobs.c.id == parse_blob_ref(ref))).scalar()
        if data is None:
            raise KeyError(f"no blob {ref}")
        return bytes(data)

    # ------------------------------------------------------------------ submissions
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
        if str(blob_path).startswith(BLOB_PREFIX):
            where = dict(blob_id=parse_blob_ref(blob_path), blob_path=None)
        elif self.blobs_in_db:  # a local file written by QueueBackend.write_blob: move its bytes into the database
            where = dict(blob_id=parse_blob_ref(self.put_blob(Path(blob_path).read_bytes())[0]), blob_path=None)
        else:
            where = dict(blob_id=None, blob_path=str(blob_path))
        with self._write() as c:
            if (
                c.execute(sa.select(t.students.c.student_id).where(t.students.c.student_id == student_id)).first()
                is None
            ):
                raise UnknownStudent(student_id)
            res = c.execute(
                sa.insert(t.submissions).values(
                    student_id=student_id,
                    filename=filename,
                    sha256=sha256,
                    size=int(size),
                    source=source,
                    late=bool(late),
                    created_at=created_at,
                    status="queued",
                    deliveries=0,
                    **where,
                )
            )
            sid = int(res.inserted_primary_key[0])
        return self.get_submission(sid)

    def get_submission(self, submission_id: int) -> Submission | None:
        with self._read() as c:
            return _submission(
                c.execute(
                    sa.select(*_SUBMISSION_COLS).select_from(_SUBMISSIONS).where(_SUB.id == int(submission_id))
                ).first()
            )

    def get_submissions(self, submission_ids: list[int]) -> dict[int, Submission]:
        ids = sorted({int(i) for i in submission_ids})
        out: dict[int, Submission] = {}
        with self._read() as c:
            for chunk in _chunks(ids):
                q = sa.select(*_SUBMISSION_COLS).select_from(_SUBMISSIONS).where(_SUB.id.in_(chunk))
                for row in c.execute(q).all():
                    sub = _submission(row)
                    out[sub.id] = sub
        return out

    def blob_path(self, submission_id: int) -> str:
        with self._read() as c:
            row = c.execute(sa.select(_SUB.blob_path, _SUB.blob_id).where(_SUB.id == int(submission_id))).first()
        if row is None:
            raise KeyError(submission_id)
        return blob_ref(row[1]) if row[1] is not None else row[0]

    def list_submissions(self, student_id: str | None = None) -> list[Submission]:
        q = sa.select(*_SUBMISSION_COLS).select_from(_SUBMISSIONS).order_by(_SUB.id)
        if student_id is not None:
            q = q.where(_SUB.student_id == student_id)
        with self._read() as c:
            return [_submission(r) for r in c.execute(q).all()]

    def submission_times_since(self, student_id: str, since: datetime) -> list[datetime]:
        with self._read() as c:
            return list(
                c.execute(
                    sa.select(_SUB.created_at)
                    .where(_SUB.student_id == student_id, _SUB.created_at >= since)
                    .order_by(_SUB.created_at)
                ).scalars()
            )

    def unfinished_ids(self) -> list[int]:
        with self._read() as c:
            return [
                int(i)
                for i in c.execute(sa.select(_SUB.id).where(_SUB.status.in_(t.UNFINISHED)).order_by(_SUB.id)).scalars()
            ]

    def unfinished_count(self) -> int:
        with self._read() as c:
            return int(
                c.execute(
                    sa.select(sa.func.count()).select_from(t.submissions).where(_SUB.status.in_(t.UNFINISHED))
                ).scalar()
            )

    def mark_grading(self, submission_id: int) -> int:
        with self._write() as c:
            c.execute(
                sa.update(t.submissions)
                .where(_SUB.id == int(submission_id), _SUB.status.in_(t.UNFINISHED))
                .values(status="grading", deliveries=_SUB.deliveries + 1)
            )
            n = c.execute(sa.select(_SUB.deliveries).where(_SUB.id == int(submission_id))).scalar()
        return int(n) if n is not None else 0

    def finish(
        self, submission_id: int, status: str, result: Result | None, error: str | None, feedback_html: str | None
    ) -> bool:
        """Compare-and-set: only the first call for a submission records; ``gb_results``' primary key makes a
        second result impossible even if two transactions raced."""
        with self._write() as c:
            now = dialect.now(c)
            done = c.execute(
                sa.update(t.submissions)
                .where(_SUB.id == int(submission_id), _SUB.status.notin_(t.FINISHED))
                .values(status=status, error=error, finished_at=now)
            )
            if done.rowcount != 1:
                return False
            c.execute(
                sa.insert(t.results).values(
                    submission_id=int(submission_id),
                    result=result.to_store() if result is not None else None,
                    feedback_html=feedback_html,
                    attempt_token=uuid.UUID(self.token) if self.token else None,
                    recorded_at=now,
                )
            )
        return True

    def feedback_html(self, submission_id: int) -> str | None:
        with self._read() as c:
            return c.execute(
                sa.select(t.results.c.feedback_html).where(t.results.c.submission_id == int(submission_id))
            ).scalar()

    # ------------------------------------------------------------------ instructor: regrades and extensions
    def requeue_for_regrade(self, items: list[tuple[int, bool]], batch: str, scope: str) -> list[int]:
        late_of = {int(sid): bool(late) for sid, late in items}
        if not late_of:
            return []
        r = t.results.c
        requeued: list[int] = []
        with self._write() as c:
            now = dialect.now(c)
            ids = list(late_of)
            rows = []
            for chunk in _chunks(ids):
                rows += c.execute(
                    sa.select(_SUB.id, _SUB.status, _SUB.late, r.result, r.feedback_html, r.recorded_at)
                    .select_from(_SUBMISSIONS)
                    .where(_SUB.id.in_(chunk), _SUB.status.in_(t.FINISHED))
                    .with_for_update(of=t.submissions)
                ).all()
            if not rows:
                return []
            c.execute(
                sa.insert(t.regrades),
                [
                    dict(
                        submission_id=int(row[0]),
                        batch=batch,
                        scope=scope,
                        requested_at=now,
                        old_status=row[1],
                        old_late=bool(row[2]),
                        old_result=row[3],
                        old_feedback_html=row[4],
                        old_recorded_at=row[5],
                    )
                    for row in rows
                ],
            )
            for row in rows:
                sid = int(row[0])
                c.execute(sa.delete(t.results).where(r.submission_id == sid))
                c.execute(
                    sa.update(t.submissions)
                    .where(_SUB.id == sid)
                    .values(status="queued", deliveries=0, error=None, finished_at=None, late=late_of[sid])
                )
                requeued.append(sid)
        return sorted(requeued)

    def regrade_progress(self, batch: str) -> dict:
        g = t.regrades.c
        out = {
            "batch": batch,
            "scope": None,
            "requested_at": None,
            "total": 0,
            "queued": 0,
            "grading": 0,
            "done": 0,
            "failed": 0,
        }
        with self._read() as c:
            head = c.execute(
                sa.select(g.scope, sa.func.min(g.requested_at)).where(g.batch == batch).group_by(g.scope)
            ).first()
            if head is None:
                return out
            counts = c.execute(
                sa.select(_SUB.status, sa.func.count(sa.distinct(_SUB.id)))
                .select_from(t.regrades.join(t.submissions, _SUB.id == g.submission_id))
                .where(g.batch == batch)
                .group_by(_SUB.status)
            ).all()
        out.update(scope=head[0], requested_at=head[1])
        for status, n in counts:
            out[status] = int(n)
            out["total"] += int(n)
        return out

    def regrade_history(self, submission_id: int) -> list[dict]:
        g = t.regrades.c
        with self._read() as c:
            rows = c.execute(
                sa.select(g.batch, g.scope, g.requested_at, g.old_status, g.old_late, g.old_result, g.old_recorded_at)
                .where(g.submission_id == int(submission_id))
                .order_by(g.id)
            ).all()
        return [
            {
                "batch": row[0],
                "scope": row[1],
                "requested_at": row[2],
                "status": row[3],
                "late": bool(row[4]),
                "result": Result.from_store(row[5]),
                "recorded_at": row[6],
            }
            for row in rows
        ]

    def regrade_counts(self) -> dict[int, int]:
        g = t.regrades.c
        with self._read() as c:
            return {
                int(sid): int(n)
                for sid, n in c.execute(sa.select(g.submission_id, sa.func.count()).group_by(g.submission_id)).all()
            }

    def regrades_after(self, after: int, limit: int = 1000) -> list[dict]:
        g = t.regrades.c
        with self._read() as c:
            rows = c.execute(
                sa.select(g.id, g.submission_id, _SUB.student_id, g.old_status, g.old_result)
                .select_from(t.regrades.join(t.submissions, _SUB.id == g.submission_id))
                .where(g.id > int(after))
                .order_by(g.id)
                .limit(int(limit))
            ).all()
        keys = ("id", "submission_id", "student_id", "status")
        return [
            {**dict(zip(keys, (int(r[0]), int(r[1]), r[2], r[3]))), "result": Result.from_store(r[4])} for r in rows
        ]

    def last_regrade(self) -> int:
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.max(t.regrades.c.id))).scalar() or 0)

    def set_extension(self, student_id: str, deadline: datetime | None) -> None:
        e = t.extensions
        with self._write() as c:
            if (
                c.execute(sa.select(t.students.c.student_id).where(t.students.c.student_id == student_id)).first()
                is None
            ):
                raise UnknownStudent(student_id)
            if deadline is None:
                c.execute(sa.delete(e).where(e.c.student_id == student_id))
                return
            ins = dialect.insert(c, e).values(student_id=student_id, deadline=deadline, granted_at=dialect.now(c))
            c.execute(
                ins.on_conflict_do_update(
                    index_elements=[e.c.student_id],
                    set_={"deadline": ins.excluded.deadline, "granted_at": ins.excluded.granted_at},
                )
            )

    def extensions(self) -> dict[str, datetime]:
        e = t.extensions.c
        with self._read() as c:
            return {sid: dl for sid, dl in c.execute(sa.select(e.student_id, e.deadline)).all()}

    def extension(self, student_id: str) -> datetime | None:
        e = t.extensions.c
        with self._read() as c:
            return c.execute(sa.select(e.deadline).where(e.student_id == student_id)).scalar()

    def revoke_session(self, nonce: str, expires_at: datetime) -> None:
        rs = t.revoked_sessions
        with self._write() as c:
            c.execute(sa.delete(rs).where(rs.c.expires_at < dialect.now(c)))
            c.execute(
                dialect.insert(c, rs)
                .values(nonce=str(nonce), expires_at=expires_at)
                .on_conflict_do_nothing(index_elements=[rs.c.nonce])
            )

    def session_revoked(self, nonce: str) -> bool:
        rs = t.revoked_sessions
        with self._read() as c:
            return c.execute(sa.select(rs.c.nonce).where(rs.c.nonce == str(nonce))).first() is not None

    def result_count(self, submission_id: int) -> int:
        with self._read() as c:
            return int(
                c.execute(
                    sa.select(sa.func.count())
                    .select_from(t.results)
                    .where(t.results.c.submission_id == int(submission_id))
                ).scalar()
            )

    def close(self) -> None:
        with self._lock:
            if self._engine_obj is not None and self._engine_pid == os.getpid():
                self._engine_obj.dispose()
            self._engine_obj = None

    # ------------------------------------------------------------------ jobs and claims (both backends)
    def note_enqueued(self, submission_id: int, published: bool = True) -> None:
        """Note that a submission was handed to the queue (idempotent). ``published``: the hand-over succeeded
        (the embedded queue is this table, so always; the Celery backend: the broker took the message)."""
        with self._write() as c:
            _note_job(c, int(submission_id), dialect.now(c), bool(published))

    def note_enqueued_many(self, submission_ids: list[int]) -> None:
        """:meth:`note_enqueued` (published) of many submissions in one transaction (a regrade of the class)."""
        with self._write() as c:
            now = dialect.now(c)
            for sid in submission_ids:
                _note_job(c, int(sid), now, True)

    def queued_regrades(self) -> set[int]:
        """Ids of the unfinished submissions a regrade queued (:func:`is_regrade`): the Celery backend publishes
        them at the regrade priority when it publishes them again."""
        with self._read() as c:
            q = sa.select(_SUB.id).where(_SUB.status.in_(t.UNFINISHED), is_regrade(_SUB.id))
            return {int(i) for i in c.execute(q).scalars()}

    def job_count(self) -> int:
        """Jobs in the queue table (the embedded backend's queue length)."""
        with self._read() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(t.jobs)).scalar())

    def jobs(self) -> dict[int, bool]:
        """{submission id: published} for every job in the queue table."""
        with self._read() as c:
            return {int(s): bool(p) for s, p in c.execute(sa.select(t.jobs.c.submission_id, t.jobs.c.published))}

    def _claim_in(self, c, submission_id: int, worker: str, lease_seconds: float, force: bool = False) -> str | None:
        """Inside a write transaction: take the claim of ``submission_id`` if it is unfinished and free (no claim,
        a stale one, one of ``worker`` itself, or any if ``force``). Returns the new attempt token or None."""
        status = c.execute(sa.select(_SUB.status).where(_SUB.id == submission_id).with_for_update()).scalar()
        if status is None or status in t.FINISHED:
            return None
        now = dialect.now(c)
        token = uuid.uuid4()
        cl = t.claims
        ins = dialect.insert(c, cl).values(
            submission_id=submission_id, token=token, worker=worker, claimed_at=now, heartbeat_at=now
        )
        free = sa.or_(
            cl.c.heartbeat_at < now - timedelta(seconds=float(lease_seconds)),
            cl.c.worker == worker,
            sa.true() if force else sa.false(),
        )
        c.execute(
            ins.on_conflict_do_update(
                index_elements=[cl.c.submission_id],
                set_={
                    "token": ins.excluded.token,
                    "worker": ins.excluded.worker,
                    "claimed_at": ins.excluded.claimed_at,
                    "heartbeat_at": ins.excluded.heartbeat_at,
                },
                where=free,
            )
        )
        if c.execute(sa.select(cl.c.token).where(cl.c.submission_id == submission_id)).scalar() != token:
            return None
        c.execute(
            sa.update(t.attempts)
            .where(t.attempts.c.submission_id == submission_id, t.attempts.c.ended_at.is_(None))
            .values(ended_at=now, outcome="lost")
        )
        c.execute(sa.insert(t.attempts).values(token=token, submission_id=submission_id, worker=worker, started_at=now))
        return str(token)

    def claim(self, submission_id: int, worker: str, lease_seconds: float) -> str | None:
        """Take the grading claim of an unfinished submission: returns a new attempt token, or None if the
        submission is finished/unknown or another worker holds a claim whose heartbeat is younger than
        ``lease_seconds``. A stale claim (its worker died) is taken over, and so is a claim of the same ``worker``
        (one process runs one job at a time, so that attempt is over)."""
        with self._write() as c:
            return self._claim_in(c, int(submission_id), worker, lease_seconds)

    def claim_next(
        self, worker: str, lease_seconds: float, owner_dead: Callable[[str], bool] | None = None
    ) -> tuple[int, str] | None:
        """Claim the next queued job (``gb_jobs``; new submissions before regrades, each oldest first:
        :func:`queue_order`) that no live worker (``worker`` included: it asks for a new job) holds: no claim, a
        claim older than the lease, or - if ``owner_dead(worker_name)`` says so - a claim of a worker known to be
        dead. Jobs of finished submissions are dropped from the queue on the way. Returns
        (submission id, attempt token) or None."""
        j, cl = t.jobs, t.claims
        with self._write() as c:
            cutoff = dialect.now(c) - timedelta(seconds=float(lease_seconds))
            held = sa.select(cl.c.submission_id).where(
                cl.c.submission_id == j.c.submission_id, cl.c.heartbeat_at >= cutoff
            )
            passed: list[int] = []  # candidates another worker claimed since this transaction's snapshot
            while True:
                free = sa.and_(~held.exists(), j.c.submission_id.notin_(passed))
                sid = c.execute(
                    sa.select(j.c.submission_id)
                    .where(free)
                    .order_by(*queue_order(j.c.submission_id))
                    .limit(1)
                    .with_for_update(skip_locked=True)
                ).scalar()
                force = False
                if sid is None and owner_dead is not None:
                    busy = c.execute(
                        sa.select(j.c.submission_id, cl.c.worker)
                        .join(cl, cl.c.submission_id == j.c.submission_id)
                        .where(cl.c.worker != worker, j.c.submission_id.notin_(passed))
                        .order_by(*queue_order(j.c.submission_id))
                        .with_for_update(skip_locked=True, of=j)
                    ).all()
                    sid = next((s for s, w in busy if owner_dead(w)), None)
                    force = True
                if sid is None:
                    return None
                sid = int(sid)
                token = self._claim_in(c, sid, worker, lease_seconds, force=force)
                if token is not None:
                    return sid, token
                status = c.execute(sa.select(_SUB.status).where(_SUB.id == sid)).scalar()
                if status is None or status in t.FINISHED:
                    c.execute(sa.delete(j).where(j.c.submission_id == sid))  # its job is over: drop it
                else:
                    passed.append(sid)

    def heartbeat(self, submission_id: int, token: str) -> bool:
        """Renew a claim; False if it was taken over (the caller's work will not be the one recorded)."""
        with self._write() as c:
            res = c.execute(
                sa.update(t.claims)
                .where(t.claims.c.submission_id == int(submission_id), t.claims.c.token == uuid.UUID(token))
                .values(heartbeat_at=dialect.now(c))
            )
        return res.rowcount == 1

    def release(self, submission_id: int, token: str, outcome: str, dequeue: bool = False) -> None:
        """End an attempt: drop its claim and log ``outcome``. ``dequeue``: also remove the job from the queue
        table, unless another worker has claimed it meanwhile (the embedded backend's acknowledgement)."""
        sid, tok = int(submission_id), uuid.UUID(token)
        with self._write() as c:
            c.execute(sa.delete(t.claims).where(t.claims.c.submission_id == sid, t.claims.c.token == tok))
            # an attempt whose claim was taken over is already closed as 'lost': keep that
            c.execute(
                sa.update(t.attempts)
                .where(t.attempts.c.token == tok, t.attempts.c.ended_at.is_(None))
                .values(ended_at=dialect.now(c), outcome=outcome)
            )
            if dequeue:
                claimed = sa.select(t.claims.c.submission_id).where(t.claims.c.submission_id == sid).exists()
                c.execute(sa.delete(t.jobs).where(t.jobs.c.submission_id == sid, ~claimed))

    def active_claims(self) -> list[tuple[int, str]]:
        """(submission id, worker) of every claim held now (live or stale), by submission id."""
        with self._read() as c:
            return [
                (int(s), w)
                for s, w in c.execute(
                    sa.select(t.claims.c.submission_id, t.claims.c.worker).order_by(t.claims.c.submission_id)
                ).all()
            ]

    def attempts(self, submission_id: int | None = None) -> list[dict]:
        """The delivery log: one dict per claim (token, submission_id, worker, started_at, ended_at, outcome)."""
        a = t.attempts
        q = sa.select(a.c.token, a.c.submission_id, a.c.worker, a.c.started_at, a.c.ended_at, a.c.outcome)
        if submission_id is not None:
            q = q.where(a.c.submission_id == int(submission_id))
        with self._read() as c:
            rows = c.execute(q.order_by(a.c.started_at)).all()
        keys = ("token", "submission_id", "worker", "started_at", "ended_at", "outcome")
        return [dict(zip(keys, (str(r[0]), int(r[1]), *r[2:]))) for r in rows]

    def to_publish(self, lease_seconds: float, *, broker_lost: bool = False, min_age: float = 60.0) -> list[int]:
        """Unfinished submissions that no live worker claims (no claim, or its heartbeat is older than
        ``lease_seconds``) and that the broker does not hold: never published (the publish failed, or the front
        died between the commit and the publish; ``min_age`` seconds after creation, so a submit in progress is
        not raced) - or all of them if ``broker_lost``."""
        j, cl = t.jobs, t.claims
        with self._read() as c:
            now = dialect.now(c)
            not_held = sa.or_(
                cl.c.submission_id.is_(None), cl.c.heartbeat_at < now - timedelta(seconds=float(lease_seconds))
            )
            not_in_broker = sa.or_(
                sa.true() if broker_lost else sa.false(),
                sa.and_(j.c.submission_id.is_(None), _SUB.created_at < now - timedelta(seconds=float(min_age))),
                j.c.published.is_(False),
            )
            q = (
                sa.select(_SUB.id)
                .select_from(
                    t.submissions.outerjoin(j, j.c.submission_id == _SUB.id).outerjoin(
                        cl, cl.c.submission_id == _SUB.id
                    )
                )
                .where(_SUB.status.in_(t.UNFINISHED), not_held, not_in_broker)
                .order_by(_SUB.id)
            )
            return [int(i) for i in c.execute(q).scalars()]
