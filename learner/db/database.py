"""The storage seam: the one interface every store (registry, loop state, event stream,
training jobs, samples) talks to, whichever database is behind it.

Statements use ``?`` placeholders and the SQL both engines share; where they differ, the
database supplies the fragment (:meth:`Database.json_text`). A write runs inside
:meth:`Database.transaction`, which serialises writers of one :class:`WriteScope` the way
SQLite's ``BEGIN IMMEDIATE`` does: the lock is taken before the first read, so a
read-check-write sequence never interleaves with another writer's.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from learner.db.location import Backend, Location, PostgresLocation, SqliteLocation

__all__ = ["Database", "Rows", "WriteScope", "open_database"]


class WriteScope(enum.Enum):
    """Groups of tables whose writers serialise against each other.

    On SQLite the file lock covers every scope; on PostgreSQL each scope is its own
    transaction-level advisory lock, so sample inserts never wait for a registry transition.
    """

    REGISTRY = 0x4C57_0001  # models, ledger, backups and the loop's tables
    JOBS = 0x4C57_0002
    SAMPLES = 0x4C57_0003
    SCHEMA = 0x4C57_00FF  # migrations


class Rows(Protocol):
    """What a statement returns: DB-API cursor reads."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Database(Protocol):
    """One connection to one database; use it from one thread (or behind a lock)."""

    @property
    def backend(self) -> Backend:
        """Which engine this is (for reports and logs; stores must not branch on it)."""
        ...

    @property
    def location(self) -> Location: ...

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Rows:
        """Run one statement (``?`` placeholders); outside a transaction it commits at once."""
        ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def transaction(self, scope: WriteScope) -> AbstractContextManager[Database]:
        """A write transaction holding ``scope``'s write lock from its first statement;
        committed on exit, rolled back on any exception."""
        ...

    def data_version(self) -> int | None:
        """A number that changes when another connection commits, or ``None`` when this
        backend cannot tell cheaply (then callers must not cache reads)."""
        ...

    def clock(self) -> float:
        """The database's wall clock (seconds since the epoch): one clock that every process
        sharing the database reads, whatever the skew between their machines."""
        ...

    def json_text(self, column: str, key: str) -> str:
        """SQL for the text of top-level ``key`` of the JSON object in ``column``."""
        ...

    def close(self) -> None: ...


def open_database(location: Location, *, busy_timeout_s: float = 30.0,
                  read_only: bool = False, sync_every_commit: bool = False) -> Database:
    """Connect to ``location`` (an SQLite file is created when missing, unless ``read_only``).

    ``busy_timeout_s`` is how long a writer waits for another's lock before failing.
    ``sync_every_commit`` makes every commit durable against power loss before it returns
    (SQLite ``synchronous=FULL``; PostgreSQL's default ``synchronous_commit`` already is):
    for data acknowledged to others once committed, such as samples.
    """
    if isinstance(location, SqliteLocation):
        from learner.db.sqlite import SqliteDatabase
        return SqliteDatabase.open(location, busy_timeout_s=busy_timeout_s, read_only=read_only,
                                   sync_every_commit=sync_every_commit)
    if isinstance(location, PostgresLocation):
        from learner.db.postgres import PostgresDatabase
        return PostgresDatabase.open(location, busy_timeout_s=busy_timeout_s, read_only=read_only)
    raise TypeError(f"not a database location: {location!r}")
