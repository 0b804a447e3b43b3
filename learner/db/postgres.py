"""The PostgreSQL backend (psycopg 3): a shared store for learner replicas.

Writers serialise per :class:`~learner.db.database.WriteScope` on a transaction-level
advisory lock taken as the first statement of every write transaction, then run at READ
COMMITTED: each statement sees everything committed before the lock was granted, so a
read-check-write sequence behaves exactly as under SQLite's ``BEGIN IMMEDIATE``. This is
why transitions cannot fail with serialization errors in normal operation; a deadlock or
serialization failure the server reports anyway surfaces as
:class:`~learner.db.errors.TransientError`, which ``learner.db.retry`` retries in one place.

The connection is in autocommit mode: a statement outside :meth:`transaction` commits at once.
A connection the server dropped (a restart, a failover, an idle timeout) fails the call that
finds it broken with :class:`~learner.db.errors.DatabaseUnavailableError` (its outcome is
unknown, so it is not repeated) and is replaced on the next call.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from learner.db.database import Rows, WriteScope
from learner.db.errors import (
    Constraint, ConstraintViolation, DatabaseError, DatabaseUnavailableError, LockTimeoutError,
    TransientError,
)
from learner.db.location import Backend, PostgresLocation
from learner.db.placeholders import to_pyformat

__all__ = ["PostgresDatabase"]

# SQLSTATE -> constraint kind. Triggers raise 23000 (integrity_constraint_violation).
_CONSTRAINTS = {
    "23505": Constraint.UNIQUE,
    "23514": Constraint.CHECK,
    "23503": Constraint.FOREIGN_KEY,
    "23502": Constraint.NOT_NULL,
    "23000": Constraint.TRIGGER,
}
_TRANSIENT = frozenset({"40001", "40P01"})  # serialization failure, deadlock
_LOCK_TIMEOUT = "55P03"
_GONE = frozenset({"57P01", "57P02", "57P03"})  # the server is shutting down or restarting


def _mapped(exc: psycopg.Error) -> DatabaseError:
    state = exc.sqlstate or ""
    message = exc.diag.message_primary or str(exc)
    if state in _CONSTRAINTS:
        return ConstraintViolation(message, _CONSTRAINTS[state])
    if state in _TRANSIENT:
        return TransientError(f"postgresql {state}: {message}")
    if state == _LOCK_TIMEOUT:
        return LockTimeoutError(f"postgresql: {message}")
    if state.startswith("08") or state in _GONE or (
            isinstance(exc, psycopg.OperationalError) and not state):
        return DatabaseUnavailableError(f"postgresql {state}: {message}".replace(" :", ":"))
    return DatabaseError(f"postgresql {state}: {message}")


@contextmanager
def _errors_mapped() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise _mapped(exc) from exc


class PostgresDatabase:
    """:class:`~learner.db.database.Database` over one psycopg connection."""

    def __init__(self, location: PostgresLocation, *, busy_timeout_s: float,
                 read_only: bool) -> None:
        self._location = location
        self._busy_timeout_s, self._read_only = busy_timeout_s, read_only
        self._conn = self._connect()

    @classmethod
    def open(cls, location: PostgresLocation, *, busy_timeout_s: float,
             read_only: bool = False) -> PostgresDatabase:
        """Connect (autocommit), with ``lock_timeout`` = ``busy_timeout_s``."""
        return cls(location, busy_timeout_s=busy_timeout_s, read_only=read_only)

    def _connect(self) -> psycopg.Connection[Any]:
        location = self._location
        kwargs: dict[str, Any] = {"autocommit": True,
                                  "connect_timeout": max(1, int(location.connect_timeout_s))}
        password = location.password()
        if password is not None:
            kwargs["password"] = password
        try:
            conn = psycopg.connect(location.url, **kwargs)
        except psycopg.Error as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to {location.url}: {str(exc).strip()}") from None
        try:
            conn.execute(f"SET lock_timeout = {int(self._busy_timeout_s * 1000)}")
            if self._read_only:
                conn.execute("SET default_transaction_read_only = on")
        except BaseException:
            conn.close()
            raise
        return conn

    def _connection(self) -> psycopg.Connection[Any]:
        """The connection, replaced first if the server dropped it (never mid-transaction:
        a transaction on a broken connection fails as a whole)."""
        if self._conn.broken:
            self._conn.close()
            self._conn = self._connect()
        return self._conn

    @property
    def backend(self) -> Backend:
        return Backend.POSTGRESQL

    @property
    def location(self) -> PostgresLocation:
        return self._location

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with _errors_mapped():
            conn = self._connection()
            if not params:
                return conn.execute(sql)
            return conn.execute(to_pyformat(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _errors_mapped():
            with self._connection().cursor() as cursor:
                cursor.executemany(to_pyformat(sql), [tuple(r) for r in rows])

    @contextmanager
    def transaction(self, scope: WriteScope) -> Iterator[PostgresDatabase]:
        """BEGIN; ``pg_advisory_xact_lock(scope)``; … COMMIT (the lock goes with the commit)."""
        with _errors_mapped():
            conn = self._connection()
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s)", (scope.value,))
                yield self

    def data_version(self) -> int | None:
        return None

    def clock(self) -> float:
        return float(self.execute("SELECT extract(epoch FROM clock_timestamp())::float8").fetchone()[0])

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def close(self) -> None:
        self._conn.close()
