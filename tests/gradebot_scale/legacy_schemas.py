"""The DDL of the two stores gradebot had before the unified store (``gradebot.sqlstore``), kept as a test fixture
(not production code): databases created by that code must open, migrate in place and keep their data. Also how
a database of the unified store's schema version 1 differs from version 2 (:data:`V2_TO_V1`), and version 2 from
version 3 (:data:`V3_TO_V2`), and version 3 from version 4 (:data:`V4_TO_V3`).

Copied verbatim from ``gradebot/backends/sqlite_store.py`` (``SCHEMA``), ``gradebot/backends/embedded.py``
(``JOBS_SCHEMA``) and ``gradebot/backends/postgres_store.py`` (``SCHEMA``) as of commit 0ecc34d.
"""

SQLITE_STORE = """
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

SQLITE_EMBEDDED_JOBS = """
CREATE TABLE IF NOT EXISTS jobs (
    submission_id INTEGER PRIMARY KEY,
    enqueued_at REAL NOT NULL,
    lease_owner TEXT,
    lease_until REAL,
    claims INTEGER NOT NULL DEFAULT 0
);
"""

POSTGRES_STORE = """
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


# A version-3 database turned back into version 2 (both dialects): version 2 had no instructor tables.
# A version-4 database turned back into version 3 (both dialects): version 3 had no gb_revoked_sessions.
V4_TO_V3 = [
    "DROP TABLE gb_revoked_sessions",
    "UPDATE gb_schema_version SET version = 3",
]

V3_TO_V2 = [
    "DROP TABLE gb_regrades",
    "DROP TABLE gb_extensions",
    "UPDATE gb_schema_version SET version = 2",
]

# A version-2 database turned back into version 1 (both dialects): version 1 kept the access code in plaintext in
# gb_students.access_code and had no throttle table. Every other table is the same in both versions.
V2_TO_V1 = [
    "DROP TABLE gb_login_failures",
    "ALTER TABLE gb_students ADD COLUMN access_code TEXT",
    "ALTER TABLE gb_students DROP COLUMN code_hash",
    "UPDATE gb_schema_version SET version = 1",
]
