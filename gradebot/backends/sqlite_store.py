"""SQLite implementation of :class:`gradebot.core.store.Store` (used by the embedded backend).

One database file ``<data_dir>/gradebot.sqlite3`` in WAL mode with ``synchronous=FULL``, so a committed row
survives a crash. Each thread/process opens its own connection (connections are per thread).

Opening a database migrates it: a ``students`` table from before access codes gets the ``access_code`` column, and
every student without a code gets a fresh one (:func:`gradebot.core.access.new_code`), in one transaction.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from datetime import datetime, timezone
from pathlib import Path

from gradebot.core import access
from gradebot.core.errors import RegistrationError, UnknownStudent
from gradebot.core.models import Result, Student, Submission
from gradebot.core.store import Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS students (
    student_id TEXT PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    grp TEXT NOT NULL DEFAULT '',
    telegram_user_id INTEGER UNIQUE,
    access_code TEXT
);
CREATE TABLE IF NOT EXISTS submissions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    student_id TEXT NOT NULL REFERENCES students(student_id),
    filename TEXT NOT NULL,
    blob_path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    source TEXT NOT NULL,
    late INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued',
    deliveries INTEGER NOT NULL DEFAULT 0,
    result_json TEXT,
    error TEXT,
    feedback_html TEXT,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS submissions_student ON submissions(student_id, created_at);
CREATE INDEX IF NOT EXISTS submissions_status ON submissions(status);
"""


def _ts(dt: datetime) -> float:
    return dt.timestamp()


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, tz=timezone.utc)


def connect(path: Path) -> sqlite3.Connection:
    """A connection with the durability settings gradebot relies on."""
    conn = sqlite3.connect(str(path), timeout=60.0, isolation_level=None)  # autocommit; explicit BEGIN
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=60000")
    return conn


class SqliteStore(Store):
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.executescript(SCHEMA)
        self._migrate(conn)

    @staticmethod
    def _migrate(c: sqlite3.Connection) -> None:
        """Bring an older database up to date: add ``students.access_code`` if missing and give every student
        without a code a fresh one. Idempotent; safe when several processes open the database at once."""
        if not SqliteStore._needs_migration(c):
            return          # the usual case: no write lock taken when every worker process opens the store
        c.execute("BEGIN IMMEDIATE")
        try:
            columns = {row[1] for row in c.execute("PRAGMA table_info(students)")}
            if "access_code" not in columns:
                c.execute("ALTER TABLE students ADD COLUMN access_code TEXT")
            missing = [r[0] for r in c.execute("SELECT student_id FROM students WHERE access_code IS NULL")]
            for sid in missing:
                c.execute("UPDATE students SET access_code=? WHERE student_id=?", (access.new_code(), sid))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    @staticmethod
    def _needs_migration(c: sqlite3.Connection) -> bool:
        """Whether the access_code column is missing or some student has no code (read-only check)."""
        columns = {row[1] for row in c.execute("PRAGMA table_info(students)")}
        return ("access_code" not in columns
                or c.execute("SELECT 1 FROM students WHERE access_code IS NULL LIMIT 1").fetchone() is not None)

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = connect(self.path)
        return c

    # ------------------------------------------------------------------ students
    def upsert_students(self, students: list[Student]) -> int:
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            for s in students:
                # a new student gets the given code or a fresh one; an existing one keeps theirs unless given
                c.execute("INSERT INTO students(student_id, name, grp, access_code) VALUES (?, ?, ?, ?) "
                          "ON CONFLICT(student_id) DO UPDATE SET name=excluded.name, grp=excluded.grp, "
                          "access_code=COALESCE(?, students.access_code, excluded.access_code)",
                          (s.student_id, s.name, s.group, s.access_code or access.new_code(), s.access_code))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return len(students)

    @staticmethod
    def _student(row) -> Student | None:
        if row is None:
            return None
        return Student(student_id=row[0], name=row[1], group=row[2], telegram_user_id=row[3], access_code=row[4])

    _STUDENT_COLS = "student_id, name, grp, telegram_user_id, access_code"

    def get_student(self, student_id: str) -> Student | None:
        return self._student(self._conn().execute(
            f"SELECT {self._STUDENT_COLS} FROM students WHERE student_id=?",
            (student_id,)).fetchone())

    def student_by_telegram(self, telegram_user_id: int) -> Student | None:
        return self._student(self._conn().execute(
            f"SELECT {self._STUDENT_COLS} FROM students WHERE telegram_user_id=?",
            (int(telegram_user_id),)).fetchone())

    def list_students(self) -> list[Student]:
        rows = self._conn().execute(
            f"SELECT {self._STUDENT_COLS} FROM students ORDER BY student_id").fetchall()
        return [self._student(r) for r in rows]

    def link_telegram(self, student_id: str, telegram_user_id: int) -> Student:
        tg = int(telegram_user_id)
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            row = c.execute(f"SELECT {self._STUDENT_COLS} FROM students WHERE student_id=?",
                            (student_id,)).fetchone()
            if row is None:
                raise RegistrationError(f"unknown student id {student_id!r}: check it or ask the instructor")
            other = c.execute("SELECT student_id FROM students WHERE telegram_user_id=?", (tg,)).fetchone()
            if other is not None and other[0] != student_id:
                raise RegistrationError(f"this Telegram account is already linked to student {other[0]!r}")
            if row[3] is not None and row[3] != tg:
                raise RegistrationError(f"student {student_id!r} is already linked to another Telegram account; "
                                        "ask the instructor to unlink it")
            c.execute("UPDATE students SET telegram_user_id=? WHERE student_id=?", (tg, student_id))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return Student(row[0], row[1], row[2], tg, access_code=row[4])

    # ------------------------------------------------------------------ submissions
    _COLS = ("id, student_id, filename, created_at, status, late, result_json, error, source, finished_at, "
             "deliveries")

    @staticmethod
    def _submission(row) -> Submission | None:
        if row is None:
            return None
        return Submission(id=row[0], student_id=row[1], filename=row[2], created_at=_dt(row[3]), status=row[4],
                          late=bool(row[5]), result=Result.from_store(json.loads(row[6]) if row[6] else None),
                          error=row[7], source=row[8], finished_at=_dt(row[9]), deliveries=row[10])

    def add_submission(self, student_id, filename, blob_path, sha256, size, source, late, created_at):
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            if c.execute("SELECT 1 FROM students WHERE student_id=?", (student_id,)).fetchone() is None:
                raise UnknownStudent(student_id)
            cur = c.execute("INSERT INTO submissions(student_id, filename, blob_path, sha256, size, source, late, "
                            "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (student_id, filename, blob_path, sha256, size, source, int(late), _ts(created_at)))
            sid = cur.lastrowid
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return self.get_submission(sid)

    def get_submission(self, submission_id: int) -> Submission | None:
        return self._submission(self._conn().execute(
            f"SELECT {self._COLS} FROM submissions WHERE id=?", (int(submission_id),)).fetchone())

    def blob_path(self, submission_id: int) -> str:
        row = self._conn().execute("SELECT blob_path FROM submissions WHERE id=?", (int(submission_id),)).fetchone()
        if row is None:
            raise KeyError(submission_id)
        return row[0]

    def list_submissions(self, student_id: str | None = None) -> list[Submission]:
        if student_id is None:
            rows = self._conn().execute(f"SELECT {self._COLS} FROM submissions ORDER BY id").fetchall()
        else:
            rows = self._conn().execute(f"SELECT {self._COLS} FROM submissions WHERE student_id=? ORDER BY id",
                                        (student_id,)).fetchall()
        return [self._submission(r) for r in rows]

    def submission_times_since(self, student_id: str, since: datetime) -> list[datetime]:
        rows = self._conn().execute("SELECT created_at FROM submissions WHERE student_id=? AND created_at>=? "
                                    "ORDER BY created_at", (student_id, _ts(since))).fetchall()
        return [_dt(r[0]) for r in rows]

    def unfinished_ids(self) -> list[int]:
        rows = self._conn().execute(
            "SELECT id FROM submissions WHERE status IN ('queued', 'grading') ORDER BY id").fetchall()
        return [r[0] for r in rows]

    def mark_grading(self, submission_id: int) -> int:
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            c.execute("UPDATE submissions SET status='grading', deliveries=deliveries+1 "
                      "WHERE id=? AND status IN ('queued', 'grading')", (int(submission_id),))
            row = c.execute("SELECT deliveries FROM submissions WHERE id=?", (int(submission_id),)).fetchone()
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return int(row[0]) if row else 0

    def finish(self, submission_id, status, result, error, feedback_html) -> bool:
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            cur = c.execute(
                "UPDATE submissions SET status=?, result_json=?, error=?, feedback_html=?, finished_at=? "
                "WHERE id=? AND status NOT IN ('done', 'failed')",
                (status, json.dumps(result.to_store()) if result is not None else None, error, feedback_html,
                 datetime.now(timezone.utc).timestamp(), int(submission_id)))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise
        return cur.rowcount == 1

    def feedback_html(self, submission_id: int) -> str | None:
        row = self._conn().execute("SELECT feedback_html FROM submissions WHERE id=?",
                                   (int(submission_id),)).fetchone()
        return row[0] if row else None

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None
