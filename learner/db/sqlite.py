"""The SQLite backend: one file, WAL journal, ``BEGIN IMMEDIATE`` write transactions.

The connection runs in autocommit mode (``isolation_level=None``) so that every write goes
through :meth:`SqliteDatabase.transaction`, which takes the write lock up front: read-check-
write sequences from concurrent processes serialise instead of failing half-way with a lock
upgrade error. SQLite's constraint errors are mapped to :class:`ConstraintViolation` by their
extended error code, never by message text.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from learner.db.database import Rows, WriteScope
from learner.db.errors import (
    Constraint, ConstraintViolation, DatabaseError, DatabaseUnavailableError, LockTimeoutError,
)
from learner.db.location import Backend, SqliteLocation

__all__ = ["SqliteDatabase"]

_WAL_RETRIES = 50
_CONSTRAINTS = {
    "SQLITE_CONSTRAINT_UNIQUE": Constraint.UNIQUE,
    "SQLITE_CONSTRAINT_PRIMARYKEY": Constraint.UNIQUE,
    "SQLITE_CONSTRAINT_CHECK": Constraint.CHECK,
    "SQLITE_CONSTRAINT_FOREIGNKEY": Constraint.FOREIGN_KEY,
    "SQLITE_CONSTRAINT_NOTNULL": Constraint.NOT_NULL,
    "SQLITE_CONSTRAINT_TRIGGER": Constraint.TRIGGER,
}


def _mapped(exc: sqlite3.Error) -> DatabaseError:
    name = getattr(exc, "sqlite_errorname", "")
    if isinstance(exc, sqlite3.IntegrityError):
        return ConstraintViolation(str(exc), _CONSTRAINTS.get(name, Constraint.CHECK))
    if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return LockTimeoutError(f"sqlite: {exc}")
    return DatabaseError(f"sqlite: {exc}")


@contextmanager
def _errors_mapped() -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise _mapped(exc) from exc


class SqliteDatabase:
    """:class:`~learner.db.database.Database` over one SQLite file."""

    def __init__(self, conn: sqlite3.Connection, location: SqliteLocation) -> None:
        self._conn = conn
        self._location = location

    @classmethod
    def open(cls, location: SqliteLocation, *, busy_timeout_s: float,
             read_only: bool = False, sync_every_commit: bool = False) -> SqliteDatabase:
        """WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable at
        checkpoints; a crash loses at most the last transactions, never consistency), a busy
        timeout so concurrent writers wait instead of failing, and foreign keys on."""
        try:
            if read_only:
                conn = sqlite3.connect(f"file:{location.path}?mode=ro", uri=True,
                                       timeout=busy_timeout_s, isolation_level=None,
                                       check_same_thread=False)
            else:
                location.path.parent.mkdir(parents=True, exist_ok=True)
                conn = sqlite3.connect(str(location.path), timeout=busy_timeout_s,
                                       isolation_level=None)
        except sqlite3.Error as exc:
            raise DatabaseUnavailableError(f"cannot open {location.path}: {exc}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            if not read_only:
                _enable_wal(conn)
                conn.execute(f"PRAGMA synchronous = {'FULL' if sync_every_commit else 'NORMAL'}")
            conn.execute("PRAGMA foreign_keys = ON")
        except BaseException:
            conn.close()
            raise
        return cls(conn, location)

    @property
    def backend(self) -> Backend:
        return Backend.SQLITE

    @property
    def location(self) -> SqliteLocation:
        return self._location

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with _errors_mapped():
            return self._conn.execute(sql, params)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _errors_mapped():
            self._conn.executemany(sql, rows)

    @contextmanager
    def transaction(self, scope: WriteScope) -> Iterator[SqliteDatabase]:
        """``BEGIN IMMEDIATE`` … ``COMMIT`` (the file lock covers every scope)."""
        with _errors_mapped():
            self._conn.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        with _errors_mapped():
            self._conn.execute("COMMIT")

    def data_version(self) -> int | None:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def clock(self) -> float:
        return float(self.execute("SELECT (julianday('now') - 2440587.5) * 86400.0").fetchone()[0])

    def json_text(self, column: str, key: str) -> str:
        return f"json_extract({column}, '$.{key}')"

    def close(self) -> None:
        self._conn.close()


def _enable_wal(conn: sqlite3.Connection) -> None:
    # Switching to WAL needs an exclusive lock; a brand-new file opened by several processes
    # at once can report "locked" without calling the busy handler, so retry briefly.
    for attempt in range(_WAL_RETRIES):
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == _WAL_RETRIES - 1:
                raise
            time.sleep(0.01 * (attempt + 1))
            continue
        if str(mode).lower() == "wal":
            return
        time.sleep(0.01 * (attempt + 1))
    raise DatabaseUnavailableError("could not switch the database to WAL mode")
