"""The storage seam on both backends: statements, transactions, typed constraint errors,
migrations and the single retry point."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from learner.db import (
    Backend, Constraint, ConstraintViolation, Database, DatabaseError, DatabaseUnavailableError,
    LockTimeoutError,
    Migration, PostgresLocation, Schema, SchemaVersionError, TransientError, WriteScope,
    current_version, migrate, open_database, retry_transient,
)
from tests.learner.conftest import TestDatabase
from tests.postgres_server import PostgresServer

_TABLE = {b: ("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, "
              "n INTEGER NOT NULL CHECK (n >= 0), doc TEXT NOT NULL DEFAULT '{}')",)
          for b in Backend}
SCHEMA = Schema("items", "items_schema_version", (Migration(1, "items", _TABLE),))


@pytest.fixture
def db(tmp_path: Path, test_database: TestDatabase) -> Iterator[Database]:
    conn = open_database(test_database.location(tmp_path / "t.sqlite3"), busy_timeout_s=5.0)
    migrate(conn, SCHEMA, lambda: 1.0)
    yield conn
    conn.close()


def test_statements_use_question_marks_and_literal_percent_signs(db: Database) -> None:
    db.execute("INSERT INTO items (id, name, n) VALUES (?, ?, ?)", (1, "50% off?", 3))
    rows = db.execute("SELECT name, n % 2 FROM items WHERE name LIKE '50%' AND n = ?", (3,))
    assert rows.fetchall() == [("50% off?", 1)]


def test_constraint_violations_carry_their_kind(db: Database) -> None:
    db.execute("INSERT INTO items (id, name, n) VALUES (1, 'a', 1)")
    cases = [("INSERT INTO items (id, name, n) VALUES (2, 'a', 1)", Constraint.UNIQUE),
             ("INSERT INTO items (id, name, n) VALUES (1, 'b', 1)", Constraint.UNIQUE),
             ("INSERT INTO items (id, name, n) VALUES (3, 'c', -1)", Constraint.CHECK),
             ("INSERT INTO items (id, name, n) VALUES (4, NULL, 1)", Constraint.NOT_NULL)]
    for statement, kind in cases:
        with pytest.raises(ConstraintViolation) as info:
            db.execute(statement)
        assert info.value.constraint is kind, statement


def test_a_failed_transaction_leaves_nothing_and_the_connection_usable(db: Database) -> None:
    with pytest.raises(ConstraintViolation):
        with db.transaction(WriteScope.REGISTRY) as tx:
            tx.execute("INSERT INTO items (id, name, n) VALUES (1, 'a', 1)")
            tx.execute("INSERT INTO items (id, name, n) VALUES (2, 'a', 1)")
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    with db.transaction(WriteScope.REGISTRY) as tx:
        tx.execute("INSERT INTO items (id, name, n) VALUES (1, 'a', 1)")
    assert db.execute("SELECT count(*) FROM items").fetchone()[0] == 1


def test_json_text_reads_a_top_level_key(db: Database) -> None:
    db.execute("INSERT INTO items (id, name, n, doc) VALUES (1, 'a', 1, ?)", ('{"stage": "x"}',))
    db.execute("INSERT INTO items (id, name, n) VALUES (2, 'b', 1)")
    sql = f"SELECT coalesce({db.json_text('doc', 'stage')}, '') FROM items ORDER BY id"
    assert [r[0] for r in db.execute(sql)] == ["x", ""]


def test_writers_of_one_scope_serialise_read_check_write(
    tmp_path: Path, test_database: TestDatabase
) -> None:
    """Two connections increment one counter 50 times each by reading then writing it inside
    their transactions: without the up-front write lock, increments would be lost."""
    location = test_database.location(tmp_path / "t.sqlite3")
    setup = open_database(location)
    migrate(setup, SCHEMA, lambda: 1.0)
    setup.execute("INSERT INTO items (id, name, n) VALUES (1, 'counter', 0)")
    errors: list[BaseException] = []

    def bump() -> None:
        conn = open_database(location, busy_timeout_s=30.0)
        try:
            for _ in range(50):
                with conn.transaction(WriteScope.REGISTRY) as tx:
                    n = tx.execute("SELECT n FROM items WHERE id = 1").fetchone()[0]
                    time.sleep(0.0005)
                    tx.execute("UPDATE items SET n = ? WHERE id = 1", (n + 1,))
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            conn.close()

    threads = [threading.Thread(target=bump) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert setup.execute("SELECT n FROM items WHERE id = 1").fetchone()[0] == 100
    setup.close()


def test_read_only_connections_refuse_writes(tmp_path: Path, test_database: TestDatabase,
                                             db: Database) -> None:
    reader = open_database(test_database.location(tmp_path / "t.sqlite3"), read_only=True)
    assert reader.execute("SELECT count(*) FROM items").fetchone()[0] == 0
    with pytest.raises(DatabaseError):
        reader.execute("INSERT INTO items (id, name, n) VALUES (1, 'a', 1)")
    reader.close()


def test_migrations_apply_once_and_refuse_a_newer_database(db: Database) -> None:
    assert current_version(db, SCHEMA) == 1
    assert migrate(db, SCHEMA, lambda: 2.0) == 1
    db.execute("INSERT INTO items_schema_version VALUES (7, 0, 'future')")
    with pytest.raises(SchemaVersionError, match="version 7"):
        migrate(db, SCHEMA, lambda: 3.0)


def test_schemas_and_migrations_are_validated() -> None:
    with pytest.raises(ValueError, match="no statements for"):
        Migration(1, "sqlite only", {Backend.SQLITE: ("SELECT 1",)})
    with pytest.raises(ValueError, match="numbered 1..n"):
        Schema("x", "x_version", (Migration(2, "gap", _TABLE),))


def test_an_unreachable_postgresql_is_a_clear_error() -> None:
    location = PostgresLocation("postgresql://nobody@127.0.0.1:1/none", connect_timeout_s=1)
    with pytest.raises(DatabaseUnavailableError, match="cannot connect to postgresql://"):
        open_database(location)


def test_retry_runs_a_transient_failure_again_and_gives_up_after_its_attempts() -> None:
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        raise TransientError("deadlock detected")

    with pytest.raises(TransientError):
        retry_transient(flaky, attempts=3, sleep=lambda s: None)
    assert len(calls) == 3
    with pytest.raises(ValueError, match="attempts"):
        retry_transient(flaky, attempts=0)


@pytest.mark.parametrize("module", ["location", "placeholders", "retry", "__init__"])
def test_docstring_examples_run(module: str) -> None:
    import doctest
    import importlib

    name = "learner.db" if module == "__init__" else f"learner.db.{module}"
    failed, _ = doctest.testmod(importlib.import_module(name))
    assert failed == 0


def test_a_dropped_postgresql_connection_fails_one_call_then_reconnects(
    postgres_server: PostgresServer,
) -> None:
    name = postgres_server.create_database()
    try:
        db = open_database(TestDatabase(Backend.POSTGRESQL, postgres_server.url(name))
                           .location(Path("-")))
        pid = db.execute("SELECT pg_backend_pid()").fetchone()[0]
        admin = open_database(TestDatabase(Backend.POSTGRESQL, postgres_server.url(name))
                              .location(Path("-")))
        admin.execute("SELECT pg_terminate_backend(?)", (pid,))
        with pytest.raises(DatabaseUnavailableError):
            db.execute("SELECT 1")
        assert db.execute("SELECT 1").fetchone()[0] == 1  # a new connection
        assert db.execute("SELECT pg_backend_pid()").fetchone()[0] != pid
        db.close()
        admin.close()
    finally:
        postgres_server.drop_database(name)


def test_a_writer_that_waits_past_the_busy_timeout_gets_a_lock_timeout(
    tmp_path: Path, test_database: TestDatabase, db: Database
) -> None:
    impatient = open_database(test_database.location(tmp_path / "t.sqlite3"), busy_timeout_s=0.2)
    with db.transaction(WriteScope.REGISTRY) as tx:
        tx.execute("INSERT INTO items (id, name, n) VALUES (1, 'a', 1)")
        started = time.monotonic()
        with pytest.raises(LockTimeoutError):
            with impatient.transaction(WriteScope.REGISTRY) as other:
                other.execute("INSERT INTO items (id, name, n) VALUES (2, 'b', 1)")
        assert time.monotonic() - started < 5.0
    with impatient.transaction(WriteScope.REGISTRY) as other:  # free again
        other.execute("INSERT INTO items (id, name, n) VALUES (2, 'b', 1)")
    impatient.close()
