"""The store's tables: one definition for SQLite and PostgreSQL (version :data:`SCHEMA_VERSION`, see
:mod:`gradebot.sqlstore.migrations`).

All names start with ``gb_``: on PostgreSQL the nbgrader gradebook may live in the same database.

- ``gb_students``: the roster; ``code_hash`` is the hash of the student's access code (never the code itself,
  :func:`gradebot.core.access.hash_code`; NULL: no code issued yet), ``telegram_user_id`` a unique link.
- ``gb_login_failures``: wrong access codes per throttle key (``student:<id>`` or ``client:<address>``): how many
  in a row, the last one, and until when the key is locked; a row is deleted once it has expired.
- ``gb_blobs``: submitted notebook bytes kept in the database (the Celery backend's workers share no disk).
- ``gb_submissions``: one row per submission (status queued|grading|done|failed, delivery count, error). The
  notebook is either a file (``blob_path``, written durably before the row) or a ``gb_blobs`` row (``blob_id``).
- ``gb_results``: at most one result per submission (the primary key is the submission id, so a redelivered job
  can never add a second one) with the feedback HTML and the attempt token that recorded it.
- ``gb_jobs``: submissions handed to a queue. The embedded backend's queue *is* this table (a row leaves it when
  its job is acknowledged); the Celery backend notes whether the publish to the broker succeeded.
- ``gb_claims`` / ``gb_attempts``: who grades a submission right now (a lease renewed by a heartbeat, with a
  random attempt token) and the log of every delivery (worker, start, end, outcome).
- ``gb_regrades``: one row per regrade of a submission (instructor action): the batch it belongs to (progress is
  counted per batch), what was asked (``scope``) and the result, feedback and late flag it replaced.
- ``gb_extensions``: a student's own deadline, set by the instructor (extends the course deadline).
- ``gb_revoked_sessions``: instructor sessions ended by a logout (the cookie's nonce), until the cookie would
  have expired anyway: every web process refuses them (the cookies are otherwise stateless).
- ``gb_schema_version``: one row, the schema version of this database.
"""

from __future__ import annotations

import sqlalchemy as sa

from gradebot.core.models import STATUSES
from gradebot.sqlstore.dialect import TABLE_OPTIONS, Id, Json, UtcTime, partial_index

SCHEMA_VERSION = 4
UNFINISHED = ("queued", "grading")
FINISHED = ("done", "failed")

metadata = sa.MetaData()

schema_version = sa.Table(
    "gb_schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

students = sa.Table(
    "gb_students",
    metadata,
    sa.Column("student_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("grp", sa.Text, nullable=False, server_default=""),
    sa.Column("telegram_user_id", sa.BigInteger, unique=True),
    sa.Column("code_hash", sa.Text),
)

login_failures = sa.Table(
    "gb_login_failures",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failure_at", UtcTime, nullable=False),
    sa.Column("locked_until", UtcTime),
    sa.Column("expires_at", UtcTime, nullable=False),  # when the row may be forgotten (window after the lock)
)
sa.Index("gb_login_failures_expires", login_failures.c.expires_at)

blobs = sa.Table(
    "gb_blobs",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("created_at", UtcTime, nullable=False),
    **TABLE_OPTIONS,
)

submissions = sa.Table(
    "gb_submissions",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("student_id", sa.Text, sa.ForeignKey("gb_students.student_id"), nullable=False),
    sa.Column("filename", sa.Text, nullable=False),
    sa.Column("blob_path", sa.Text),
    sa.Column("blob_id", sa.BigInteger, sa.ForeignKey("gb_blobs.id")),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("size", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("late", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", UtcTime, nullable=False),
    sa.Column("status", sa.Text, nullable=False, server_default="queued"),
    sa.Column("deliveries", sa.Integer, nullable=False, server_default="0"),
    sa.Column("error", sa.Text),
    sa.Column("finished_at", UtcTime),
    sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="gb_submissions_status"),
    sa.CheckConstraint("blob_path IS NOT NULL OR blob_id IS NOT NULL", name="gb_submissions_blob"),
    **TABLE_OPTIONS,
)
sa.Index("gb_submissions_student", submissions.c.student_id, submissions.c.created_at)
partial_index("gb_submissions_unfinished", submissions.c.id, where=submissions.c.status.in_(UNFINISHED))

results = sa.Table(
    "gb_results",
    metadata,
    sa.Column(
        "submission_id", sa.BigInteger, sa.ForeignKey("gb_submissions.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("result", Json),
    sa.Column("feedback_html", sa.Text),
    sa.Column("attempt_token", sa.Uuid),
    sa.Column("recorded_at", UtcTime, nullable=False),
)

jobs = sa.Table(
    "gb_jobs",
    metadata,
    sa.Column(
        "submission_id", sa.BigInteger, sa.ForeignKey("gb_submissions.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("enqueued_at", UtcTime, nullable=False),
    sa.Column("published", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("publishes", sa.Integer, nullable=False, server_default="0"),
)

claims = sa.Table(
    "gb_claims",
    metadata,
    sa.Column(
        "submission_id", sa.BigInteger, sa.ForeignKey("gb_submissions.id"), primary_key=True, autoincrement=False
    ),
    sa.Column("token", sa.Uuid, nullable=False),
    sa.Column("worker", sa.Text, nullable=False),
    sa.Column("claimed_at", UtcTime, nullable=False),
    sa.Column("heartbeat_at", UtcTime, nullable=False),
)

attempts = sa.Table(
    "gb_attempts",
    metadata,
    sa.Column("token", sa.Uuid, primary_key=True),
    sa.Column("submission_id", sa.BigInteger, sa.ForeignKey("gb_submissions.id"), nullable=False),
    sa.Column("worker", sa.Text, nullable=False),
    sa.Column("started_at", UtcTime, nullable=False),
    sa.Column("ended_at", UtcTime),
    sa.Column("outcome", sa.Text),
)
sa.Index("gb_attempts_submission", attempts.c.submission_id)

regrades = sa.Table(
    "gb_regrades",
    metadata,
    sa.Column("id", Id, primary_key=True, autoincrement=True),
    sa.Column("submission_id", sa.BigInteger, sa.ForeignKey("gb_submissions.id"), nullable=False),
    sa.Column("batch", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),
    sa.Column("requested_at", UtcTime, nullable=False),
    sa.Column("old_status", sa.Text, nullable=False),
    sa.Column("old_late", sa.Boolean, nullable=False),
    sa.Column("old_result", Json),
    sa.Column("old_feedback_html", sa.Text),
    sa.Column("old_recorded_at", UtcTime),
    **TABLE_OPTIONS,
)
sa.Index("gb_regrades_batch", regrades.c.batch)
sa.Index("gb_regrades_submission", regrades.c.submission_id)

extensions = sa.Table(
    "gb_extensions",
    metadata,
    sa.Column("student_id", sa.Text, sa.ForeignKey("gb_students.student_id"), primary_key=True),
    sa.Column("deadline", UtcTime, nullable=False),
    sa.Column("granted_at", UtcTime, nullable=False),
)

revoked_sessions = sa.Table(
    "gb_revoked_sessions",
    metadata,
    sa.Column("nonce", sa.Text, primary_key=True),
    sa.Column("expires_at", UtcTime, nullable=False),  # the session's own expiry: the row may be forgotten then
)
sa.Index("gb_revoked_sessions_expires", revoked_sessions.c.expires_at)
