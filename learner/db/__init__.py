"""The storage seam: one interface over SQLite (embedded default) and PostgreSQL (shared).

Stores (registry, loop state, event stream, training jobs, samples) hold a
:class:`Database` and never learn which engine is behind it.

>>> import tempfile, pathlib
>>> db = open_database(SqliteLocation(pathlib.Path(tempfile.mkdtemp()) / "x.sqlite3"))
>>> with db.transaction(WriteScope.REGISTRY) as tx:
...     _ = tx.execute("CREATE TABLE t (a INTEGER)")
...     _ = tx.execute("INSERT INTO t (a) VALUES (?)", (1,))
>>> db.execute("SELECT a FROM t").fetchall()
[(1,)]
>>> db.close()
"""

from learner.db.database import Database, Rows, WriteScope, open_database
from learner.db.errors import (
    Constraint,
    ConstraintViolation,
    DatabaseError,
    DatabaseUnavailableError,
    InvalidLocationError,
    LockTimeoutError,
    SchemaVersionError,
    TransientError,
)
from learner.db.location import (
    Backend, Location, PostgresLocation, SqliteLocation, location_fields, location_from,
)
from learner.db.migrations import Migration, Schema, current_version, migrate
from learner.db.retry import retry_transient

__all__ = [
    "Backend",
    "Constraint",
    "ConstraintViolation",
    "Database",
    "DatabaseError",
    "DatabaseUnavailableError",
    "InvalidLocationError",
    "Location",
    "LockTimeoutError",
    "Migration",
    "PostgresLocation",
    "Rows",
    "Schema",
    "SchemaVersionError",
    "SqliteLocation",
    "TransientError",
    "WriteScope",
    "current_version",
    "location_fields",
    "location_from",
    "migrate",
    "open_database",
    "retry_transient",
]
