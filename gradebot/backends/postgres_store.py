"""PostgreSQL implementation of :class:`gradebot.core.store.Store` (used by the Celery backend).

Everything a worker on another machine needs is in the database, so workers share no filesystem:

- ``gb_blobs``: the submitted notebook bytes (``bytea``), written durably (committed) by :meth:`put_blob` before
  the submission row references them. ``Store.blob_path`` returns a reference ``pgblob:<id>`` (not a file path);
  :meth:`get_blob` reads the bytes back.
- ``gb_submissions``: one row per submission (status queued|grading|done|failed, delivery count, error).
- ``gb_results``: at most one result per submission (primary key = submission id: a redelivered job can never add
  a second one), with the feedback HTML (``text``) and the attempt token that recorded it.
- ``gb_claims`` / ``gb_attempts``: who grades a submission right now (a lease renewed by a heartbeat, with a
  random attempt token) and the log of every delivery (worker, start, end, outcome).
- ``gb_jobs``: whether/when a submission was handed to the broker (so a sweeper can publish what never reached it).

``gb_students`` holds the roster with each student's access code (``access_code``); opening the store migrates a
database from before codes (adds the column, gives every student without a code a fresh one).

The nbgrader gradebook lives in the same database (nbgrader's own tables, in schema ``public``); our tables are
all prefixed ``gb_`` so the two never clash.

Connections: one per thread *and* per process (a Celery prefork child never reuses its parent's socket), in
autocommit mode with explicit transactions; the session time zone is UTC, so every datetime is aware UTC.
"""
from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator
from urllib.parse import urlsplit, urlunsplit

from gradebot.core import access
from gradebot.core.errors import ConfigError, RegistrationError, UnknownStudent
from gradebot.core.models import Result, Student, Submission
from gradebot.core.store import Store

BLOB_PREFIX = "pgblob:"

SCHEMA = """
CREATE TABLE IF NOT EXISTS gb_students (
    student_id text PRIMARY KEY,
    name text NOT NULL DEFAULT '',
    grp text NOT NULL DEFAULT '',
    telegram_user_id bigint UNIQUE,
    access_code text
);
-- databases created before access codes: add the column (codes are filled in by PostgresStore._migrate)
ALTER TABLE gb_students ADD COLUMN IF NOT EXISTS access_code text;
CREATE TABLE IF NOT EXISTS gb_blobs (
    id bigserial PRIMARY KEY,
    sha256 text NOT NULL,
    size integer NOT NULL,
    data bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gb_submissions (
    id bigserial PRIMARY KEY,
    student_id text NOT NULL REFERENCES gb_students(student_id),
    filename text NOT NULL,
    blob_id bigint NOT NULL REFERENCES gb_blobs(id),
    sha256 text NOT NULL,
    size integer NOT NULL,
    source text NOT NULL,
    late boolean NOT NULL DEFAULT false,
    created_at timestamptz NOT NULL,
    status text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'grading', 'done', 'failed')),
    deliveries integer NOT NULL DEFAULT 0,
    error text,
    finished_at timestamptz
);
CREATE INDEX IF NOT EXISTS gb_submissions_student ON gb_submissions(student_id, created_at);
CREATE INDEX IF NOT EXISTS gb_submissions_unfinished ON gb_submissions(id) WHERE status IN ('queued', 'grading');
CREATE TABLE IF NOT EXISTS gb_results (
    submission_id bigint PRIMARY KEY REFERENCES gb_submissions(id),
    result jsonb,
    feedback_html text,
    attempt_token uuid,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gb_claims (
    submission_id bigint PRIMARY KEY REFERENCES gb_submissions(id),
    token uuid NOT NULL,
    worker text NOT NULL,
    claimed_at timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS gb_attempts (
    token uuid PRIMARY KEY,
    submission_id bigint NOT NULL REFERENCES gb_submissions(id),
    worker text NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    outcome text
);
CREATE INDEX IF NOT EXISTS gb_attempts_submission ON gb_attempts(submission_id);
CREATE TABLE IF NOT EXISTS gb_jobs (
    submission_id bigint PRIMARY KEY REFERENCES gb_submissions(id),
    enqueued_at timestamptz NOT NULL DEFAULT now(),
    published boolean NOT NULL DEFAULT false,
    publishes integer NOT NULL DEFAULT 0
);
"""

# advisory lock keys (pg_advisory_lock takes a bigint); arbitrary constants owned by gradebot
LOCK_SCHEMA = 0x6762_0001
LOCK_GRADEBOOK = 0x6762_0002
LOCK_SWEEP = 0x6762_0003


# ---------------------------------------------------------------------------------------------- URLs
def normalize_url(url: str) -> tuple[str, str]:
    """(libpq URL for psycopg, SQLAlchemy URL for nbgrader) from any PostgreSQL URL spelling.

    Accepts ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` and ``postgresql+psycopg2://``."""
    if not url:
        raise ConfigError("no PostgreSQL URL: set GRADEBOT_DB_URL=postgresql://user:password@host:port/dbname")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ConfigError(f"GRADEBOT_DB_URL={_redact(url)!r} is not a PostgreSQL URL "
                          "(expected postgresql://user:password@host:port/dbname)")
    libpq = urlunsplit(("postgresql",) + tuple(parts[1:]))
    sqlalchemy = urlunsplit(("postgresql+psycopg",) + tuple(parts[1:]))
    return libpq, sqlalchemy


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit((parts.scheme, netloc) + tuple(parts[2:]))
    return url


def blob_ref(blob_id: int) -> str:
    return f"{BLOB_PREFIX}{int(blob_id)}"


def parse_blob_ref(ref: str) -> int:
    if not str(ref).startswith(BLOB_PREFIX):
        raise ValueError(f"{ref!r} is not a PostgreSQL blob reference ({BLOB_PREFIX}<id>)")
    return int(str(ref)[len(BLOB_PREFIX):])


# ---------------------------------------------------------------------------------------------- the store
class PostgresStore(Store):
    """The store in PostgreSQL. ``url``: any spelling accepted by :func:`normalize_url`."""

    def __init__(self, url: str, *, connect_timeout: int = 10):
        import psycopg  # fail early with a clear error if the driver is missing
        # lost connection / server down (the store turns a failed connect into ConnectionError): retry the job
        self.transient_errors = (ConnectionError, psycopg.OperationalError)
        self.url, self.sqlalchemy_url = normalize_url(url)
        self.connect_timeout = connect_timeout
        self._local = threading.local()
        self.token: str | None = None      # attempt token of the job this process is running (set by a worker)
        with self._conn().transaction():
            c = self._conn()
            c.execute("SELECT pg_advisory_xact_lock(%s)", (LOCK_SCHEMA,))   # concurrent CREATE IF NOT EXISTS
            c.execute(SCHEMA)
            self._migrate(c)

    @staticmethod
    def _migrate(c) -> None:
        """Give every student without an access code (a roster from before codes) a fresh one. Runs inside the
        schema transaction, under its advisory lock."""
        for (sid,) in c.execute("SELECT student_id FROM gb_students WHERE access_code IS NULL").fetchall():
            c.execute("UPDATE gb_students SET access_code=%s WHERE student_id=%s", (access.new_code(), sid))

    # ------------------------------------------------------------------ connections
    def _conn(self):
        import psycopg
        c = getattr(self._local, "conn", None)
        if c is not None and (getattr(self._local, "pid", None) != os.getpid()):
            c = None            # inherited through fork: never touch the parent's socket
        if c is None or c.closed or c.broken:
            try:
                c = psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout,
                                    options="-c timezone=UTC", application_name="gradebot")
            except psycopg.OperationalError as exc:
                raise ConnectionError(f"cannot connect to PostgreSQL at {_redact(self.url)}: "
                                      f"{str(exc).strip()[:300]}") from exc
            self._local.conn = c
            self._local.pid = os.getpid()
        return c

    def _q(self, sql: str, args: tuple = ()):
        return self._conn().execute(sql, args)

    @contextmanager
    def advisory_lock(self, key: int) -> Iterator[None]:
        """A session-level PostgreSQL advisory lock on a dedicated connection (serializes across machines)."""
        import psycopg
        with psycopg.connect(self.url, autocommit=True, connect_timeout=self.connect_timeout) as c:
            c.execute("SELECT pg_advisory_lock(%s)", (key,))
            try:
                yield
            finally:
                c.execute("SELECT pg_advisory_unlock(%s)", (key,))

    # ------------------------------------------------------------------ students
    def upsert_students(self, students: list[Student]) -> int:
        c = self._conn()
        with c.transaction():
            for s in students:
                # a new student gets the given code or a fresh one; an existing one keeps theirs unless given
                c.execute("INSERT INTO gb_students(student_id, name, grp, access_code) VALUES (%s, %s, %s, %s) "
                          "ON CONFLICT (student_id) DO UPDATE SET name=excluded.name, grp=excluded.grp, "
                          "access_code=COALESCE(%s, gb_students.access_code, excluded.access_code)",
                          (s.student_id, s.name, s.group, s.access_code or access.new_code(), s.access_code))
        return len(students)

    @staticmethod
    def _student(row) -> Student | None:
        if row is None:
            return None
        return Student(student_id=row[0], name=row[1], group=row[2], telegram_user_id=row[3], access_code=row[4])

    _STUDENT_COLS = "student_id, name, grp, telegram_user_id, access_code"

    def get_student(self, student_id: str) -> Student | None:
        return self._student(self._q(f"SELECT {self._STUDENT_COLS} FROM gb_students WHERE student_id=%s",
                                     (student_id,)).fetchone())

    def student_by_telegram(self, telegram_user_id: int) -> Student | None:
        return self._student(self._q(f"SELECT {self._STUDENT_COLS} FROM gb_students WHERE telegram_user_id=%s",
                                     (int(telegram_user_id),)).fetchone())

    def list_students(self) -> list[Student]:
        rows = self._q(f"SELECT {self._STUDENT_COLS} FROM gb_students ORDER BY student_id").fetchall()
        return [self._student(r) for r in rows]

    def link_telegram(self, student_id: str, telegram_user_id: int) -> Student:
        tg = int(telegram_user_id)
        c = self._conn()
        with c.transaction():
            row = c.execute(f"SELECT {self._STUDENT_COLS} FROM gb_students WHERE student_id=%s FOR UPDATE",
                            (student_id,)).fetchone()
            if row is None:
                raise RegistrationError(f"unknown student id {student_id!r}: check it or ask the instructor")
            other = c.execute("SELECT student_id FROM gb_students WHERE telegram_user_id=%s", (tg,)).fetchone()
            if other is not None and other[0] != student_id:
                raise RegistrationError(f"this Telegram account is already linked to student {other[0]!r}")
            if row[3] is not None and row[3] != tg:
                raise RegistrationError(f"student {student_id!r} is already linked to another Telegram account; "
                                        "ask the instructor to unlink it")
            # the UNIQUE constraint settles a race between two ids claiming one account at once
            c.execute("UPDATE gb_students SET telegram_user_id=%s WHERE student_id=%s", (tg, student_id))
        return Student(row[0], row[1], row[2], tg, access_code=row[4])

    # ------------------------------------------------------------------ blobs (notebook bytes)
    def put_blob(self, data: bytes) -> tuple[str, str]:
        """Store ``data`` (committed before returning). Returns (reference ``pgblob:<id>``, sha256 hex)."""
        sha = hashlib.sha256(data).hexdigest()
        row = self._q("INSERT INTO gb_blobs(sha256, size, data) VALUES (%s, %s, %s) RETURNING id",
                      (sha, len(data), bytes(data))).fetchone()
        return blob_ref(row[0]), sha

    def get_blob(self, ref: str) -> bytes:
        row = self._q("SELECT data FROM gb_blobs WHERE id=%s", (parse_blob_ref(ref),)).fetchone()
        if row is None:
            raise KeyError(f"no blob {ref}")
        return bytes(row[0])

    # ------------------------------------------------------------------ submissions
    _COLS = ("s.id, s.student_id, s.filename, s.created_at, s.status, s.late, r.result, s.error, s.source, "
             "s.finished_at, s.deliveries")
    _FROM = "gb_submissions s LEFT JOIN gb_results r ON r.submission_id = s.id"

    @staticmethod
    def _submission(row) -> Submission | None:
        if row is None:
            return None
        res = row[6]
        if isinstance(res, str):
            res = json.loads(res)
        return Submission(id=int(row[0]), student_id=row[1], filename=row[2], created_at=row[3], status=row[4],
                          late=bool(row[5]), result=Result.from_store(res), error=row[7], source=row[8],
                          finished_at=row[9], deliveries=int(row[10]))

    def add_submission(self, student_id, filename, blob_path, sha256, size, source, late, created_at):
        if str(blob_path).startswith(BLOB_PREFIX):
            blob_id = parse_blob_ref(blob_path)
        else:   # a local file written by the default QueueBackend.write_blob: move its bytes into the database
            data = Path(blob_path).read_bytes()
            blob_id = parse_blob_ref(self.put_blob(data)[0])
        c = self._conn()
        with c.transaction():
            if c.execute("SELECT 1 FROM gb_students WHERE student_id=%s", (student_id,)).fetchone() is None:
                raise UnknownStudent(student_id)
            row = c.execute(
                "INSERT INTO gb_submissions(student_id, filename, blob_id, sha256, size, source, late, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id",
                (student_id, filename, blob_id, sha256, int(size), source, bool(late), created_at)).fetchone()
        return self.get_submission(int(row[0]))

    def get_submission(self, submission_id: int) -> Submission | None:
        return self._submission(self._q(f"SELECT {self._COLS} FROM {self._FROM} WHERE s.id=%s",
                                        (int(submission_id),)).fetchone())

    def blob_path(self, submission_id: int) -> str:
        row = self._q("SELECT blob_id FROM gb_submissions WHERE id=%s", (int(submission_id),)).fetchone()
        if row is None:
            raise KeyError(submission_id)
        return blob_ref(row[0])

    def list_submissions(self, student_id: str | None = None) -> list[Submission]:
        if student_id is None:
            rows = self._q(f"SELECT {self._COLS} FROM {self._FROM} ORDER BY s.id").fetchall()
        else:
            rows = self._q(f"SELECT {self._COLS} FROM {self._FROM} WHERE s.student_id=%s ORDER BY s.id",
                           (student_id,)).fetchall()
        return [self._submission(r) for r in rows]

    def submission_times_since(self, student_id: str, since: datetime) -> list[datetime]:
        rows = self._q("SELECT created_at FROM gb_submissions WHERE student_id=%s AND created_at>=%s "
                       "ORDER BY created_at", (student_id, since)).fetchall()
        return [r[0] for r in rows]

    def unfinished_ids(self) -> list[int]:
        rows = self._q("SELECT id FROM gb_submissions WHERE status IN ('queued', 'grading') ORDER BY id").fetchall()
        return [int(r[0]) for r in rows]

    def mark_grading(self, submission_id: int) -> int:
        row = self._q("UPDATE gb_submissions SET status = CASE WHEN status IN ('queued', 'grading') THEN 'grading' "
                      "ELSE status END, deliveries = deliveries + CASE WHEN status IN ('queued', 'grading') "
                      "THEN 1 ELSE 0 END WHERE id=%s RETURNING deliveries", (int(submission_id),)).fetchone()
        return int(row[0]) if row else 0

    def finish(self, submission_id, status, result, error, feedback_html) -> bool:
        """Compare-and-set: only the first call for a submission records; ``gb_results``' primary key makes a
        second result impossible even if two transactions raced."""
        c = self._conn()
        with c.transaction():
            row = c.execute("UPDATE gb_submissions SET status=%s, error=%s, finished_at=now() "
                            "WHERE id=%s AND status NOT IN ('done', 'failed') RETURNING id",
                            (status, error, int(submission_id))).fetchone()
            if row is None:
                return False
            c.execute("INSERT INTO gb_results(submission_id, result, feedback_html, attempt_token) "
                      "VALUES (%s, %s, %s, %s)",
                      (int(submission_id), json.dumps(result.to_store()) if result is not None else None,
                       feedback_html, self.token))
        return True

    def feedback_html(self, submission_id: int) -> str | None:
        row = self._q("SELECT feedback_html FROM gb_results WHERE submission_id=%s",
                      (int(submission_id),)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None and getattr(self._local, "pid", None) == os.getpid():
            c.close()
        self._local.conn = None

    # ------------------------------------------------------------------ claims (distributed workers only)
    def claim(self, submission_id: int, worker: str, lease_seconds: float) -> str | None:
        """Take the grading claim of an unfinished submission: returns a new attempt token, or None if the
        submission is finished/unknown or another worker holds a claim whose heartbeat is younger than
        ``lease_seconds``. A stale claim (its worker died) is taken over, and so is a claim of the same ``worker``
        (one process runs one job at a time, so that attempt is over)."""
        token = str(uuid.uuid4())
        c = self._conn()
        with c.transaction():
            sub = c.execute("SELECT status FROM gb_submissions WHERE id=%s FOR UPDATE",
                            (int(submission_id),)).fetchone()
            if sub is None or sub[0] in ("done", "failed"):
                return None
            row = c.execute(
                "INSERT INTO gb_claims(submission_id, token, worker) VALUES (%s, %s, %s) "
                "ON CONFLICT (submission_id) DO UPDATE SET token=excluded.token, worker=excluded.worker, "
                "claimed_at=now(), heartbeat_at=now() "
                "WHERE gb_claims.heartbeat_at < now() - make_interval(secs => %s) OR gb_claims.worker = %s "
                "RETURNING token",
                (int(submission_id), token, worker, float(lease_seconds), worker)).fetchone()
            if row is None:
                return None
            c.execute("UPDATE gb_attempts SET ended_at=now(), outcome='lost' "
                      "WHERE submission_id=%s AND ended_at IS NULL", (int(submission_id),))
            c.execute("INSERT INTO gb_attempts(token, submission_id, worker) VALUES (%s, %s, %s)",
                      (token, int(submission_id), worker))
        return token

    def heartbeat(self, submission_id: int, token: str) -> bool:
        """Renew a claim; False if it was taken over (the caller's work will not be the one recorded)."""
        cur = self._q("UPDATE gb_claims SET heartbeat_at=now() WHERE submission_id=%s AND token=%s",
                      (int(submission_id), token))
        return cur.rowcount == 1

    def release(self, submission_id: int, token: str, outcome: str) -> None:
        c = self._conn()
        with c.transaction():
            c.execute("DELETE FROM gb_claims WHERE submission_id=%s AND token=%s", (int(submission_id), token))
            # an attempt whose claim was taken over is already closed as 'lost': keep that
            c.execute("UPDATE gb_attempts SET ended_at=now(), outcome=%s WHERE token=%s AND ended_at IS NULL",
                      (outcome, token))

    def attempts(self, submission_id: int | None = None) -> list[dict]:
        """The delivery log: one dict per claim (token, submission_id, worker, started_at, ended_at, outcome)."""
        sql = "SELECT token, submission_id, worker, started_at, ended_at, outcome FROM gb_attempts"
        args: tuple = ()
        if submission_id is not None:
            sql += " WHERE submission_id=%s"
            args = (int(submission_id),)
        rows = self._q(sql + " ORDER BY started_at", args).fetchall()
        keys = ("token", "submission_id", "worker", "started_at", "ended_at", "outcome")
        return [dict(zip(keys, (str(r[0]), int(r[1]), *r[2:]))) for r in rows]

    def result_count(self, submission_id: int) -> int:
        return int(self._q("SELECT count(*) FROM gb_results WHERE submission_id=%s",
                           (int(submission_id),)).fetchone()[0])

    # ------------------------------------------------------------------ broker bookkeeping
    def note_enqueued(self, submission_id: int, published: bool) -> None:
        self._q("INSERT INTO gb_jobs(submission_id, enqueued_at, published, publishes) VALUES (%s, now(), %s, %s) "
                "ON CONFLICT (submission_id) DO UPDATE SET enqueued_at=now(), published=excluded.published, "
                "publishes=gb_jobs.publishes + excluded.publishes",
                (int(submission_id), bool(published), 1 if published else 0))

    def to_publish(self, lease_seconds: float, *, broker_lost: bool = False, min_age: float = 60.0) -> list[int]:
        """Unfinished submissions that no live worker claims (no claim, or its heartbeat is older than
        ``lease_seconds``) and that the broker does not hold: never published (the publish failed, or the front
        died between the commit and the publish; ``min_age`` seconds after creation, so a submit in progress is
        not raced) - or all of them if ``broker_lost``."""
        rows = self._q(
            "SELECT s.id FROM gb_submissions s LEFT JOIN gb_jobs j ON j.submission_id = s.id "
            "LEFT JOIN gb_claims c ON c.submission_id = s.id "
            "WHERE s.status IN ('queued', 'grading') "
            "AND (c.submission_id IS NULL OR c.heartbeat_at < now() - make_interval(secs => %s)) "
            "AND (%s OR (j.submission_id IS NULL AND s.created_at < now() - make_interval(secs => %s)) "
            "     OR NOT j.published) ORDER BY s.id",
            (float(lease_seconds), bool(broker_lost), float(min_age))).fetchall()
        return [int(r[0]) for r in rows]

    def unfinished_count(self) -> int:
        return int(self._q("SELECT count(*) FROM gb_submissions WHERE status IN ('queued', 'grading')"
                           ).fetchone()[0])
