"""Opening the registry's SQLite database and running write transactions.

The connection runs in autocommit mode (``isolation_level=None``) so that every write goes
through :func:`write_transaction`, which takes the write lock up front with
``BEGIN IMMEDIATE``: read-check-write sequences from concurrent processes serialise instead of
failing half-way with a lock upgrade error.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from learner.registry.schema import migrate

__all__ = ["open_database", "write_transaction"]

_WAL_RETRIES = 50


def open_database(
    path: Path, busy_timeout_s: float, now: Callable[[], float]
) -> sqlite3.Connection:
    """Open (creating if needed) and migrate the database at ``path``.

    WAL journal (readers never block the writer), ``synchronous=NORMAL`` (durable at
    checkpoints; a crash loses at most the last transactions, never consistency), a busy
    timeout so concurrent writers wait instead of failing, and foreign keys on.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(
        str(path), timeout=busy_timeout_s, isolation_level=None, check_same_thread=True
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
        _enable_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, now)
    except BaseException:
        conn.close()
        raise
    return conn


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
    raise sqlite3.OperationalError("could not switch the registry database to WAL mode")


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """``BEGIN IMMEDIATE`` … ``COMMIT``, rolled back on any exception."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
