"""Versioned migrations of the store: a numbered list of steps and a one-row version table.

Opening a store calls :func:`migrate`. It reads ``gb_schema_version`` (no lock: the usual case, an up-to-date
database, costs one query and never waits for a writer); if the database is older, it takes the schema lock
(:func:`gradebot.sqlstore.dialect.lock_schema` inside a write transaction), reads the version again (another
process may have just migrated) and runs every newer step of :data:`STEPS` in that one transaction, then records
the new version. A failing step leaves the database as it was. Both dialects have transactional DDL.

Adding a step: append ``(n, "what it does", function(conn))`` to :data:`STEPS`, bump
:data:`gradebot.sqlstore.tables.SCHEMA_VERSION` to ``n`` and change the table definition to match. Write steps in
SQLAlchemy Core; for ``ALTER TABLE`` use :func:`operations` (Alembic's operations, whose ``batch_alter_table``
rebuilds a SQLite table where SQLite cannot alter it). Add a test that opens a database of the previous version.

Step 1 adopts the databases of the stores that existed before the unified one, in place (the DDL of both is kept
as a test fixture, ``tests/gradebot_scale/legacy_schemas.py``):

- the SQLite store (``students``, ``submissions`` with the result inline, the embedded queue's ``jobs``): rows
  are copied into the ``gb_`` tables with their ids (results into ``gb_results``, queued jobs into ``gb_jobs``)
  and the old tables dropped; a job's lease is not kept (upgrade with the workers stopped);
- the PostgreSQL store (the ``gb_`` tables already): ``gb_submissions`` gets ``blob_path`` and ``blob_id``
  becomes optional; missing tables are created;
- either, from before access codes: the column is added; those students have no code yet (``roster import`` or
  ``roster reissue-code --all-missing`` issues them).

Step 1 writes ``gb_students`` as version 1 had it (:data:`V1_STUDENTS`, plaintext ``access_code``); a new database
goes through it too (its table is empty), so every database reaches step 2 in the same shape.

Step 2 stores access codes hashed: ``gb_students`` gets ``code_hash``, every plaintext code is hashed into it
(:func:`gradebot.core.access.hash_code`, slow on purpose: about 0.1 s per student, once) and ``access_code`` is
dropped (both dialects: ``ALTER TABLE ... DROP COLUMN``; SQLite >= 3.35). The codes keep working; they can no
longer be printed. ``gb_login_failures`` (the throttle on wrong codes) is created.

Step 3 adds the instructor's tables ``gb_regrades`` (the history of regrades) and ``gb_extensions``
(per-student deadlines).

Step 4 adds ``gb_revoked_sessions`` (instructor sessions ended by a logout, so every web process refuses them).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy.engine import Connection, Engine

from gradebot.core import access
from gradebot.sqlstore import dialect
from gradebot.sqlstore import tables as t

log = logging.getLogger("gradebot.store")

# gb_students as schema version 1 defined it (step 1 creates and fills it; step 2 replaces access_code by code_hash)
V1_STUDENTS = sa.Table(
    "gb_students",
    sa.MetaData(),
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("grp", sa.Text, nullable=False, server_default=""),
    sa.Column("telegram_user_id", sa.BigInteger, unique=True),
    sa.Column("access_code", sa.Text),
)


def operations(conn: Connection) -> Operations:
    """Alembic's schema operations (add_column, alter_column, batch_alter_table, ...) on ``conn``."""
    return Operations(MigrationContext.configure(conn))


def current_version(conn: Connection) -> int:
    """The schema version of the database; 0 if it has no version table (new, or from before versioning)."""
    if not sa.inspect(conn).has_table(t.schema_version.name):
        return 0
    return int(conn.execute(sa.select(sa.func.max(t.schema_version.c.version))).scalar() or 0)


def migrate(engine: Engine) -> int:
    """Bring the database at ``engine`` to :data:`~gradebot.sqlstore.tables.SCHEMA_VERSION`. Safe when several
    processes open the store at once. Returns the version found before migrating."""
    with dialect.read(engine) as c:
        found = current_version(c)
    if found == t.SCHEMA_VERSION:
        return found
    with dialect.write(engine) as c:
        dialect.lock_schema(c)
        found = current_version(c)
        if found > t.SCHEMA_VERSION:
            raise RuntimeError(
                f"the store's database has schema version {found}, newer than this gradebot "
                f"({t.SCHEMA_VERSION}): upgrade gradebot"
            )
        for number, what, step in STEPS:
            if number > found:
                log.info("store schema: step %d: %s", number, what)
                step(c)
        if found < t.SCHEMA_VERSION:
            if found == 0:
                t.schema_version.create(c, checkfirst=True)
                c.execute(sa.insert(t.schema_version).values(version=t.SCHEMA_VERSION))
            else:
                c.execute(sa.update(t.schema_version).values(version=t.SCHEMA_VERSION))
    return found


# ---------------------------------------------------------------------------------------------- step 1
def _v1_adopt(c: Connection) -> None:
    names = set(sa.inspect(c).get_table_names())
    if "students" in names and "grp" in {col["name"] for col in sa.inspect(c).get_columns("students")}:
        _adopt_sqlite_store(c, names)
    elif "gb_students" in names:
        _adopt_postgres_store(c)
    V1_STUDENTS.create(c, checkfirst=True)
    t.metadata.create_all(c, checkfirst=True)


def _adopt_postgres_store(c: Connection) -> None:
    ops = operations(c)
    student_cols = {col["name"] for col in sa.inspect(c).get_columns("gb_students")}
    if "access_code" not in student_cols:
        ops.add_column("gb_students", sa.Column("access_code", sa.Text))
    if sa.inspect(c).has_table("gb_submissions"):
        sub_cols = {col["name"] for col in sa.inspect(c).get_columns("gb_submissions")}
        if "blob_path" not in sub_cols:
            with ops.batch_alter_table("gb_submissions") as batch:
                batch.add_column(sa.Column("blob_path", sa.Text))
                batch.alter_column("blob_id", existing_type=sa.BigInteger, nullable=True)
                batch.create_check_constraint("gb_submissions_blob", "blob_path IS NOT NULL OR blob_id IS NOT NULL")


def _ts(value) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(float(value), tz=timezone.utc)


def _adopt_sqlite_store(c: Connection, names: set[str]) -> None:
    V1_STUDENTS.create(c, checkfirst=True)
    t.metadata.create_all(c, checkfirst=True)
    old_students = {col["name"] for col in sa.inspect(c).get_columns("students")}
    code = "access_code" if "access_code" in old_students else "NULL"
    rows = c.execute(sa.text(f"SELECT student_id, name, grp, telegram_user_id, {code} FROM students")).all()
    if rows:
        c.execute(
            sa.insert(V1_STUDENTS),
            [dict(student_id=r[0], name=r[1], grp=r[2], telegram_user_id=r[3], access_code=r[4]) for r in rows],
        )
    subs = (
        c.execute(
            sa.text(
                "SELECT id, student_id, filename, blob_path, sha256, size, source, late, created_at, status, "
                "deliveries, result_json, error, feedback_html, finished_at FROM submissions ORDER BY id"
            )
        ).all()
        if "submissions" in names
        else []
    )
    if subs:
        c.execute(
            sa.insert(t.submissions),
            [
                dict(
                    id=r[0],
                    student_id=r[1],
                    filename=r[2],
                    blob_path=r[3],
                    sha256=r[4],
                    size=r[5],
                    source=r[6],
                    late=bool(r[7]),
                    created_at=_ts(r[8]),
                    status=r[9],
                    deliveries=r[10],
                    error=r[12],
                    finished_at=_ts(r[14]),
                )
                for r in subs
            ],
        )
        finished = [
            dict(
                submission_id=r[0],
                result=json.loads(r[11]) if r[11] else None,
                feedback_html=r[13],
                attempt_token=None,
                recorded_at=_ts(r[14]) or _ts(r[8]),
            )
            for r in subs
            if r[9] in t.FINISHED or r[11] is not None
        ]
        if finished:
            c.execute(sa.insert(t.results), finished)
    queued = (
        c.execute(
            sa.text("SELECT submission_id, enqueued_at FROM jobs WHERE submission_id IN (SELECT id FROM submissions)")
        ).all()
        if "jobs" in names and "submissions" in names
        else []
    )
    if queued:
        c.execute(
            sa.insert(t.jobs),
            [dict(submission_id=r[0], enqueued_at=_ts(r[1]), published=True, publishes=1) for r in queued],
        )
    for old in ("jobs", "submissions", "students"):
        if old in names:
            c.execute(sa.text(f"DROP TABLE {old}"))
    log.info(
        "store schema: adopted the SQLite store (%d students, %d submissions, %d queued jobs)",
        len(rows),
        len(subs),
        len(queued),
    )


# ---------------------------------------------------------------------------------------------- step 2
def _v2_hash_codes(c: Connection) -> None:
    ops = operations(c)
    cols = {col["name"] for col in sa.inspect(c).get_columns("gb_students")}
    if "code_hash" not in cols:
        ops.add_column("gb_students", sa.Column("code_hash", sa.Text))
    if "access_code" in cols:
        rows = c.execute(
            sa.select(V1_STUDENTS.c.student_id, V1_STUDENTS.c.access_code).where(V1_STUDENTS.c.access_code.is_not(None))
        ).all()
        hashed = 0
        for sid, code in rows:
            if not access.normalize(code):
                continue  # an empty code never matched: no code
            c.execute(
                sa.update(t.students).where(t.students.c.student_id == sid).values(code_hash=access.hash_code(code))
            )
            hashed += 1
        dialect.drop_column(c, "gb_students", "access_code")
        log.info("store schema: hashed the access codes of %d student(s); the plaintext column is dropped", hashed)
    t.login_failures.create(c, checkfirst=True)


# ---------------------------------------------------------------------------------------------- step 3
def _v3_instructor(c: Connection) -> None:
    """The instructor cockpit's tables: regrade history and per-student deadline extensions (new tables only)."""
    t.regrades.create(c, checkfirst=True)
    t.extensions.create(c, checkfirst=True)


# ---------------------------------------------------------------------------------------------- step 4
def _v4_revoked_sessions(c: Connection) -> None:
    """Instructor sessions ended by a logout (a new table only)."""
    t.revoked_sessions.create(c, checkfirst=True)


STEPS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "one schema for SQLite and PostgreSQL (adopts the databases of the two earlier stores)", _v1_adopt),
    (2, "access codes stored hashed (scrypt); throttle table of wrong codes", _v2_hash_codes),
    (3, "instructor cockpit: regrade history (gb_regrades) and deadline extensions (gb_extensions)", _v3_instructor),
    (4, "instructor sessions ended by a logout (gb_revoked_sessions)", _v4_revoked_sessions),
]
assert [n for n, _, _ in STEPS] == list(range(1, t.SCHEMA_VERSION + 1)), "STEPS must be numbered 1..SCHEMA_VERSION"
