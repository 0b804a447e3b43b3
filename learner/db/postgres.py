"""The PostgreSQL backend (psycopg 3): a shared store for learner replicas.

Writers serialise per :class:`~learner.db.database.WriteScope` on a transaction-level
advisory lock taken as the first statement of every write transaction, then run at READ
COMMITTED: each statement sees everything committed before the lock was granted, so a
read-check-write sequence behaves exactly as under SQLite's ``BEGIN IMMEDIATE``. This is
why transitions cannot fail with serialization errors in normal operation; a deadlock or
serialization failure the server reports anyway surfaces as
:class:`~learner.db.errors.TransientError`, which ``learner.db.retry`` retries in one place.

The connection is in autocommit mode: a statement outside :meth:`transaction` commits at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from learner.db.database import Rows, WriteScope
from learner.db.errors import (
    Constraint, ConstraintViolation, DatabaseError, DatabaseUnavailableError, TransientError,
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
_TRANSIENT = frozenset({"40001", "40P01", "55P03"})  # serialization, deadlock, lock timeout


def _mapped(exc: psycopg.Error) -> DatabaseError:
    state = exc.sqlstate or ""
    message = exc.diag.message_primary or str(exc)
    if state in _CONSTRAINTS:
        return ConstraintViolation(message, _CONSTRAINTS[state])
    if state in _TRANSIENT:
        return TransientError(f"postgresql {state}: {message}")
    if isinstance(exc, psycopg.OperationalError) and not state:
        return DatabaseUnavailableError(f"postgresql: {exc}")
    return DatabaseError(f"postgresql {state}: {message}")


@contextmanager
def _errors_mapped() -> Iterator[None]:
    try:
        yield
    except psycopg.Error as exc:
        raise _mapped(exc) from exc


class PostgresDatabase:
    """:class:`~learner.db.database.Database` over one psycopg connection."""

    def __init__(self, conn: psycopg.Connection[Any], location: PostgresLocation) -> None:
        self._conn = conn
        self._location = location

    @classmethod
    def open(cls, location: PostgresLocation, *, busy_timeout_s: float,
             read_only: bool = False) -> PostgresDatabase:
        """Connect (autocommit), with ``lock_timeout`` = ``busy_timeout_s``."""
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
            conn.execute(f"SET lock_timeout = {int(busy_timeout_s * 1000)}")
            if read_only:
                conn.execute("SET default_transaction_read_only = on")
        except BaseException:
            conn.close()
            raise
        return cls(conn, location)

    @property
    def backend(self) -> Backend:
        return Backend.POSTGRESQL

    @property
    def location(self) -> PostgresLocation:
        return self._location

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        with _errors_mapped():
            if not params:
                return self._conn.execute(sql)
            return self._conn.execute(to_pyformat(sql), tuple(params))

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with _errors_mapped():
            with self._conn.cursor() as cursor:
                cursor.executemany(to_pyformat(sql), [tuple(r) for r in rows])

    @contextmanager
    def transaction(self, scope: WriteScope) -> Iterator[PostgresDatabase]:
        """BEGIN; ``pg_advisory_xact_lock(scope)``; … COMMIT (the lock goes with the commit)."""
        with _errors_mapped():
            with self._conn.transaction():
                self._conn.execute("SELECT pg_advisory_xact_lock(%s)", (scope.value,))
                yield self

    def data_version(self) -> int | None:
        return None

    def json_text(self, column: str, key: str) -> str:
        return f"(({column})::jsonb ->> '{key}')"

    def close(self) -> None:
        self._conn.close()
