"""The registry's schema on both backends: versions, migrations from each released version,
and the invariants the database itself enforces."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learner.db import (
    Backend, Constraint, ConstraintViolation, Database, DatabaseError, Migration, Schema,
    WriteScope, current_version, migrate, open_database,
)
from learner.registry import ModelRegistry, SchemaVersionError
from learner.registry.database import open_registry_database
from learner.registry.schema import REGISTRY_SCHEMA
from tests.learner.conftest import TestDatabase
from tests.learner.registry.conftest import tiny_model
from tests.postgres_server import PostgresServer

LATEST = REGISTRY_SCHEMA.latest


@pytest.fixture
def db(tmp_path: Path, test_database: TestDatabase) -> Iterator[Database]:
    conn = open_registry_database(test_database.location(tmp_path / "r.sqlite3"), 5.0, lambda: 1.0)
    yield conn
    conn.close()


def _insert_model(conn: Database, model_id: str, status: str, patch: int) -> None:
    conn.execute(
        "INSERT INTO models (id, name, model_type, major, minor, patch, status, artifact_sha256,"
        " artifact_uri, artifact_bytes, artifact_kind, created_at, updated_at)"
        " VALUES (?, 'm', 't', 1, 0, ?, ?, ?, 'u', 1, 'numpy', 0, 0)",
        (model_id, patch, status, "0" * 64),
    )


def _tables(conn: Database) -> set[str]:
    if conn.backend is Backend.SQLITE:
        sql = "SELECT name FROM sqlite_master WHERE type = 'table'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
    return {row[0] for row in conn.execute(sql)}


def test_fresh_database_has_the_latest_schema(db: Database) -> None:
    assert current_version(db, REGISTRY_SCHEMA) == LATEST == 2
    assert {"models", "ledger", "champion_backups", "schema_version", "loop_state", "routing",
            "ab_tests", "loop_events", "drift_checks", "schedule"} <= _tables(db)


def test_sqlite_database_is_wal_with_busy_timeout(tmp_path: Path) -> None:
    conn = open_registry_database(TestDatabase(Backend.SQLITE).location(tmp_path / "r.sqlite3"),
                                  5.0, lambda: 1.0)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    conn.close()


def test_reopening_does_not_reapply_migrations(tmp_path: Path, test_database: TestDatabase) -> None:
    location = test_database.location(tmp_path / "r.sqlite3")
    open_registry_database(location, 5.0, lambda: 1.0).close()
    conn = open_registry_database(location, 5.0, lambda: 2.0)
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == LATEST
    conn.close()


@pytest.mark.parametrize("released", range(1, LATEST))
def test_migrates_from_each_released_schema_keeping_the_data(
    tmp_path: Path, test_database: TestDatabase, released: int
) -> None:
    root = tmp_path / "reg"
    location = test_database.registry_config(root).location
    old = open_database(location)
    assert migrate(old, REGISTRY_SCHEMA.up_to(released), lambda: 1.0) == released
    # A model as the registry of that release wrote it: a row and its ledger entry.
    _insert_model(old, "m_1.0.0", "registered", 0)
    old.execute("INSERT INTO ledger (at, model_id, model_type, action, to_status, actor, reason)"
                " VALUES (1, 'm_1.0.0', 't', 'register', 'registered', 'me', 'why')")
    old.close()
    with test_database.registry(root) as registry:  # today's registry migrates it on open
        assert registry.get_model("m_1.0.0").status.value == "registered"
        assert registry.verify_ledger() == []
        registry.promote_to_champion("m_1.0.0", reason="after the upgrade")
        assert registry.get_champion("t")["id"] == "m_1.0.0"  # type: ignore[index]
        assert [e.action.value for e in registry.get_history()] == ["register", "promote"]
    conn = open_database(location)
    assert current_version(conn, REGISTRY_SCHEMA) == LATEST
    versions = [row[0] for row in conn.execute("SELECT version FROM schema_version ORDER BY 1")]
    assert versions == list(range(1, LATEST + 1))
    conn.close()


def test_pending_migration_is_applied_once(db: Database) -> None:
    extra = Migration(LATEST + 1, "test column",
                      {b: ("ALTER TABLE models ADD COLUMN note TEXT",) for b in Backend})
    schema = Schema("registry", "schema_version", (*REGISTRY_SCHEMA.migrations, extra))
    assert migrate(db, schema, lambda: 2.0) == LATEST + 1
    assert migrate(db, schema, lambda: 3.0) == LATEST + 1
    db.execute("UPDATE models SET note = 'x'")  # the column exists


def test_failed_migration_rolls_back(db: Database) -> None:
    broken = Migration(LATEST + 1, "broken",
                       {b: ("CREATE TABLE half (x INTEGER)", "NOT SQL") for b in Backend})
    schema = Schema("registry", "schema_version", (*REGISTRY_SCHEMA.migrations, broken))
    with pytest.raises(DatabaseError):
        migrate(db, schema, lambda: 2.0)
    assert current_version(db, REGISTRY_SCHEMA) == LATEST
    assert "half" not in _tables(db)


def test_newer_database_is_refused(tmp_path: Path, test_database: TestDatabase) -> None:
    location = test_database.location(tmp_path / "r.sqlite3")
    conn = open_registry_database(location, 5.0, lambda: 1.0)
    conn.execute("INSERT INTO schema_version VALUES (999, 0, 'from the future')")
    conn.close()
    with pytest.raises(SchemaVersionError, match="999"):
        open_registry_database(location, 5.0, lambda: 1.0)


def test_database_allows_one_champion_and_one_challenger_per_type(db: Database) -> None:
    _insert_model(db, "m_1.0.0", "champion", 0)
    _insert_model(db, "m_1.0.1", "challenger", 1)
    _insert_model(db, "m_1.0.2", "registered", 2)
    for statement in ("UPDATE models SET status = 'champion' WHERE id = 'm_1.0.2'",
                      "UPDATE models SET status = 'challenger' WHERE id = 'm_1.0.2'"):
        with pytest.raises(ConstraintViolation) as info:
            db.execute(statement)
        assert info.value.constraint is Constraint.UNIQUE
    with pytest.raises(ConstraintViolation) as info:
        _insert_model(db, "m_dup", "registered", 0)  # same name + version
    assert info.value.constraint is Constraint.UNIQUE
    with pytest.raises(ConstraintViolation) as info:
        db.execute("UPDATE models SET status = 'winner' WHERE id = 'm_1.0.2'")
    assert info.value.constraint is Constraint.CHECK


def test_ledger_backups_and_events_are_append_only(db: Database) -> None:
    _insert_model(db, "m_1.0.0", "registered", 0)
    db.execute(
        "INSERT INTO ledger (at, model_id, model_type, action, to_status, actor, reason)"
        " VALUES (1, 'm_1.0.0', 't', 'register', 'registered', 'me', 'why')"
    )
    db.execute(
        "INSERT INTO champion_backups (at, model_type, model_id, replaced_by, snapshot)"
        " VALUES (1, 't', 'm_1.0.0', 'x', '{}')"
    )
    db.execute("INSERT INTO loop_events (at, kind, model_type, subject, message, details)"
               " VALUES (1, 'drift', 't', 'm', 'drift', '{}')")
    for table in ("ledger", "champion_backups", "loop_events"):
        for statement, op in ((f"UPDATE {table} SET at = 2", "UPDATE"),
                              (f"DELETE FROM {table}", "DELETE")):
            with pytest.raises(ConstraintViolation, match=f"append-only: {op} refused") as info:
                db.execute(statement)
            assert info.value.constraint is Constraint.TRIGGER
        assert db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


def test_postgresql_refuses_truncating_the_ledger(postgres_server: PostgresServer) -> None:
    name = postgres_server.create_database()
    try:
        location = TestDatabase(Backend.POSTGRESQL, postgres_server.url(name)).location(Path("-"))
        conn = open_registry_database(location, 5.0, lambda: 1.0)
        with pytest.raises(ConstraintViolation, match="append-only: TRUNCATE refused"):
            conn.execute("TRUNCATE ledger CASCADE")
        conn.close()
    finally:
        postgres_server.drop_database(name)


def test_write_transaction_rolls_back_on_error(db: Database) -> None:
    with pytest.raises(RuntimeError):
        with db.transaction(WriteScope.REGISTRY) as tx:
            _insert_model(tx, "m_1.0.0", "registered", 0)
            raise RuntimeError("boom")
    assert db.execute("SELECT count(*) FROM models").fetchone()[0] == 0
    with db.transaction(WriteScope.REGISTRY) as tx:  # the connection is usable again
        _insert_model(tx, "m_1.0.0", "registered", 0)
    assert db.execute("SELECT count(*) FROM models").fetchone()[0] == 1


def test_registry_survives_a_reopen_on_the_same_database(
    tmp_path: Path, test_database: TestDatabase
) -> None:
    with test_database.registry(tmp_path / "reg") as first:
        model_id = first.register_model(tiny_model(1), "clf", "docs")
        first.promote_to_champion(model_id, reason="first")
    with test_database.registry(tmp_path / "reg") as again:
        assert again.get_champion("docs")["id"] == model_id  # type: ignore[index]
        assert again.verify_ledger() == []
