"""The bot's store: one implementation on SQLAlchemy Core for a local SQLite file (the embedded backend) and a
PostgreSQL server (the Celery backend).

- :mod:`~gradebot.sqlstore.tables`: the one table definition;
- :mod:`~gradebot.sqlstore.migrations`: versioned migrations, run when a store is opened;
- :mod:`~gradebot.sqlstore.dialect`: every difference between SQLite and PostgreSQL (engine settings, write
  transactions, row and advisory locks, column types); nothing else in gradebot names a dialect;
- :mod:`~gradebot.sqlstore.store`: :class:`SqlStore`, the :class:`gradebot.core.store.Store` with job claims.
"""

from gradebot.sqlstore.dialect import DATABASE_ERRORS, TRANSIENT_ERRORS, StoreUnavailable, database_lock, normalize_url
from gradebot.sqlstore.store import BLOB_PREFIX, SqlStore

__all__ = [
    "BLOB_PREFIX",
    "DATABASE_ERRORS",
    "TRANSIENT_ERRORS",
    "SqlStore",
    "StoreUnavailable",
    "database_lock",
    "normalize_url",
]
