"""Everything that differs between SQLite and PostgreSQL, in one place.

The rest of :mod:`gradebot.sqlstore` is written in SQLAlchemy Core and never names a dialect; it calls:

- :func:`make_engine`: SQLite gets WAL, ``synchronous=FULL``, foreign keys and a 60 s busy timeout on every
  connection, and its write transactions start with ``BEGIN IMMEDIATE`` (one writer at a time, taken at the start,
  so a read-then-write never fails half-way); PostgreSQL gets a UTC session, a connect timeout and pre-ping (a
  restarted server is reconnected to transparently).
- :func:`write` / :func:`read`: a transaction for writing (SQLite: ``BEGIN IMMEDIATE``) or for reading (deferred).
  Row locks (``SELECT ... FOR UPDATE [SKIP LOCKED]``) are written with SQLAlchemy's ``with_for_update``: PostgreSQL
  renders them, SQLite omits them (its write transaction already excludes every other writer).
- :func:`drop_column`: ``ALTER TABLE ... DROP COLUMN`` (SQLite >= 3.35 has it too, without rebuilding the table).
- :func:`insert`: ``INSERT ... ON CONFLICT DO UPDATE`` (both dialects spell it alike; SQLAlchemy has one construct
  per dialect).
- :func:`lock_schema` and :func:`named_lock`: PostgreSQL advisory locks (they reach every machine); SQLite has one
  machine, so a file lock next to the database file.
- the column types whose storage differs: :class:`UtcTime` (SQLite: epoch seconds as REAL, the format the SQLite
  store always used; PostgreSQL: ``timestamptz``), :data:`Json` (``jsonb`` on PostgreSQL), :data:`Id` (SQLite's
  autoincrement needs ``INTEGER PRIMARY KEY``), :data:`TABLE_OPTIONS` (SQLite ``AUTOINCREMENT``: ids never reused).
- :func:`now`: the database's clock, the one clock of every time stamp (never a front's or a worker's clock).
- :func:`database_url`: which URLs are accepted, and :func:`normalize_url` for a server database (PostgreSQL).
"""

from __future__ import annotations

import fcntl
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from gradebot.core.errors import ConfigError

SQLITE, POSTGRESQL = "sqlite", "postgresql"


class StoreUnavailable(ConnectionError):
    """The store's database is unreachable or busy for now (connection lost, server restarting, a SQLite lock held
    past the busy timeout). Raised by :func:`read` and :func:`write` only, so an error of another database (e.g.
    nbgrader's gradebook, also SQLAlchemy) is never mistaken for it."""


# Exceptions meaning "the store is unavailable for now": a job is retried, not recorded as failed.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (StoreUnavailable,)
# Any error a database raised (the store's, or SQLAlchemy's for another database).
DATABASE_ERRORS: tuple[type[BaseException], ...] = (ConnectionError, sa.exc.DBAPIError)


# ---------------------------------------------------------------------------------------------- URLs
def normalize_url(url: str) -> tuple[str, str]:
    """(libpq URL, SQLAlchemy URL) of a server database from any PostgreSQL URL spelling; a clear ConfigError
    for anything else. Accepts ``postgresql://``, ``postgres://``, ``postgresql+psycopg://`` and
    ``postgresql+psycopg2://`` (the driver used is always psycopg 3)."""
    if not url:
        raise ConfigError("no PostgreSQL URL: set GRADEBOT_DB_URL=postgresql://user:password@host:port/dbname")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg", "postgresql+psycopg2"):
        raise ConfigError(
            f"GRADEBOT_DB_URL={redact(url)!r} is not a PostgreSQL URL "
            "(expected postgresql://user:password@host:port/dbname)"
        )
    libpq = urlunsplit(("postgresql",) + tuple(parts[1:]))
    alchemy = urlunsplit(("postgresql+psycopg",) + tuple(parts[1:]))
    return libpq, alchemy


def redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(":" + parts.password + "@", ":***@")
        return urlunsplit((parts.scheme, netloc) + tuple(parts[2:]))
    return url


def file_url(path: Path | str) -> str:
    """The URL of a database in one local file."""
    return f"sqlite:///{Path(path)}"


def database_url(url: str) -> str:
    """The SQLAlchemy URL for ``url``: a local database file (``sqlite:///path``) or a server database (any
    spelling :func:`normalize_url` accepts)."""
    if str(url).startswith("sqlite:///"):
        return str(url)
    if str(url).startswith("sqlite:"):
        raise ConfigError(f"{url!r}: a database file URL needs three slashes and a path (sqlite:///path/to/file)")
    return normalize_url(url)[1]


def database_file(url: str) -> Path | None:
    """The file of a local database URL, None for a server database."""
    u = sa.engine.make_url(url)
    return Path(u.database) if u.get_backend_name() == SQLITE else None


# ---------------------------------------------------------------------------------------------- engines
def make_engine(url: str) -> Engine:
    """An engine with the durability and time-zone settings the store relies on (see the module docstring)."""
    url = database_url(url)
    if sa.engine.make_url(url).get_backend_name() == SQLITE:
        path = database_file(url)
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 60.0, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record):
            dbapi_conn.isolation_level = None  # the driver issues no BEGIN of its own: _begin does
            for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=60000"):
                dbapi_conn.execute(f"PRAGMA {pragma}")

        @event.listens_for(engine, "begin")
        def _begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.get_execution_options().get("gradebot_write") else "BEGIN")

        return engine
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": 10, "options": "-c timezone=UTC", "application_name": "gradebot"},
    )


@contextmanager
def _unavailable_on_outage() -> Iterator[None]:
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreUnavailable(f"the store's database is unavailable: {str(exc.orig or exc).strip()[:300]}") from exc


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed on exit (SQLite: ``BEGIN IMMEDIATE``). An outage raises
    :class:`StoreUnavailable`."""
    with _unavailable_on_outage(), engine.connect() as c:
        c.execution_options(gradebot_write=True)
        with c.begin():
            yield c


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction (a consistent snapshot; never blocks writers). An outage raises
    :class:`StoreUnavailable`."""
    with _unavailable_on_outage(), engine.connect() as c:
        yield c


def insert(conn: Connection, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """``INSERT`` with ``.on_conflict_do_update(...)`` / ``.on_conflict_do_nothing(...)`` for this dialect."""
    return (postgresql.insert if conn.dialect.name == POSTGRESQL else sqlite.insert)(table)


def drop_column(conn: Connection, table: str, column: str) -> None:
    """Drop a plain column (no index, key or constraint on it) in place. SQLite needs version 3.35 or later."""
    if conn.dialect.name == SQLITE and sqlite3_version() < (3, 35):
        raise RuntimeError(
            f"dropping {table}.{column} needs SQLite >= 3.35 (this Python has "
            f"{'.'.join(map(str, sqlite3_version()))}): upgrade SQLite/Python"
        )
    quote = conn.dialect.identifier_preparer.quote
    conn.execute(sa.text(f"ALTER TABLE {quote(table)} DROP COLUMN {quote(column)}"))


def sqlite3_version() -> tuple[int, ...]:
    import sqlite3

    return sqlite3.sqlite_version_info


# ---------------------------------------------------------------------------------------------- locks
# PostgreSQL advisory lock keys (a bigint each); arbitrary constants owned by gradebot, the same as before the
# stores were unified, so an old and a new process exclude each other during an upgrade
LOCK_KEYS = {"schema": 0x6762_0001, "gradebook": 0x6762_0002, "sweep": 0x6762_0003}


def _key(name: str) -> int:
    return LOCK_KEYS.get(name, 0x6762_0000_0000 + zlib.crc32(name.encode()))


def lock_schema(conn: Connection) -> None:
    """Inside a write transaction: exclude every other process migrating the schema until it ends
    (PostgreSQL: a transaction advisory lock; SQLite: ``BEGIN IMMEDIATE`` already did)."""
    if conn.dialect.name == POSTGRESQL:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _key("schema")})


@contextmanager
def named_lock(engine: Engine, name: str, wait: bool = True) -> Iterator[bool]:
    """Hold the lock ``name`` across processes and machines that use this database; yields whether it was taken
    (always True when ``wait``). PostgreSQL: a session advisory lock on a connection of its own; SQLite: a file
    lock on ``<database file>.<name>.lock``."""
    if engine.dialect.name == POSTGRESQL:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            if wait:
                c.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _key(name)})
                got = True
            else:
                got = bool(c.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _key(name)}).scalar())
            try:
                yield got
            finally:
                if got:
                    c.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _key(name)})
        return
    path = database_file(str(engine.url)).with_name(database_file(str(engine.url)).name + f".{name}.lock")
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            got = True
        except BlockingIOError:
            got = False
        try:
            yield got
        finally:
            if got:
                fcntl.flock(f, fcntl.LOCK_UN)


@contextmanager
def database_lock(url: str, name: str) -> Iterator[None]:
    """:func:`named_lock` in the database at ``url`` (e.g. the nbgrader gradebook's), on a short-lived engine."""
    engine = make_engine(url)
    try:
        with named_lock(engine, name):
            yield
    finally:
        engine.dispose()


# ---------------------------------------------------------------------------------------------- column types
class UtcTime(sa.types.TypeDecorator):
    """A timezone-aware UTC datetime. SQLite: epoch seconds (REAL); PostgreSQL: ``timestamptz``."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine:
        if dialect.name == SQLITE:
            return dialect.type_descriptor(sa.Float())
        return dialect.type_descriptor(sa.DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> float | datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"the store keeps timezone-aware datetimes only, got {value!r}")
        return value.timestamp() if dialect.name == SQLITE else value

    def process_result_value(self, value: float | datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, (int, float)):
            return datetime.fromtimestamp(value, tz=timezone.utc)
        return value.astimezone(timezone.utc)


def now(conn: Connection) -> datetime:
    """The database's current time (timezone-aware UTC): every time stamp the store writes or compares comes from
    it (see :mod:`gradebot.sqlstore.store`), so fronts and workers on machines whose clocks disagree still agree on
    leases, deadlines, rate limits and lost submissions.
    PostgreSQL: ``statement_timestamp()`` (not ``now()``, the start of a transaction that may have waited for a
    row lock); SQLite: ``julianday('now')`` as epoch seconds, :class:`UtcTime`'s storage (its ``CURRENT_TIMESTAMP``
    is zone-less text to the second)."""
    if conn.dialect.name == SQLITE:
        expr = sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", UtcTime())
    else:
        expr = sa.func.statement_timestamp(type_=UtcTime())
    return conn.execute(sa.select(expr)).scalar_one()


Json = sa.JSON().with_variant(postgresql.JSONB(), POSTGRESQL)
Id = sa.BigInteger().with_variant(sa.Integer(), SQLITE)
TABLE_OPTIONS = {"sqlite_autoincrement": True}


def partial_index(name: str, *columns: sa.Column, where: sa.ColumnElement[bool]) -> sa.Index:
    """An index over the rows matching ``where`` (both dialects support partial indexes)."""
    return sa.Index(name, *columns, postgresql_where=where, sqlite_where=where)
