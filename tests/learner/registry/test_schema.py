from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from learner.registry import SchemaVersionError
from learner.registry.database import open_database, write_transaction
from learner.registry.schema import MIGRATIONS, Migration, current_version, migrate


def _open(path: Path) -> sqlite3.Connection:
    return open_database(path, busy_timeout_s=5.0, now=lambda: 1.0)


def _insert_model(conn: sqlite3.Connection, model_id: str, status: str, patch: int) -> None:
    conn.execute(
        "INSERT INTO models (id, name, model_type, major, minor, patch, status, artifact_sha256,"
        " artifact_uri, artifact_bytes, artifact_kind, created_at, updated_at)"
        " VALUES (?, 'm', 't', 1, 0, ?, ?, ?, 'u', 1, 'numpy', 0, 0)",
        (model_id, patch, status, "0" * 64),
    )


def test_fresh_database_is_wal_with_latest_schema(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    assert current_version(conn) == max(m.version for m in MIGRATIONS)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"models", "ledger", "champion_backups", "schema_version"} <= tables


def test_reopening_does_not_reapply_migrations(tmp_path: Path) -> None:
    _open(tmp_path / "r.sqlite3").close()
    conn = _open(tmp_path / "r.sqlite3")
    assert conn.execute("SELECT count(*) FROM schema_version").fetchone()[0] == len(MIGRATIONS)


def test_pending_migration_is_applied_once(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    extra = Migration(99, "test column", ("ALTER TABLE models ADD COLUMN note TEXT",))
    assert migrate(conn, lambda: 2.0, (*MIGRATIONS, extra)) == 99
    assert migrate(conn, lambda: 3.0, (*MIGRATIONS, extra)) == 99
    columns = {r[1] for r in conn.execute("PRAGMA table_info(models)")}
    assert "note" in columns


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    broken = Migration(50, "broken", ("CREATE TABLE half (x INTEGER)", "NOT SQL"))
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, lambda: 2.0, (*MIGRATIONS, broken))
    assert current_version(conn) == MIGRATIONS[-1].version
    assert conn.execute("SELECT name FROM sqlite_master WHERE name='half'").fetchone() is None


def test_newer_database_is_refused(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    conn.execute("INSERT INTO schema_version VALUES (999, 0, 'from the future')")
    conn.close()
    with pytest.raises(SchemaVersionError, match="999"):
        _open(tmp_path / "r.sqlite3")


def test_database_allows_one_champion_and_one_challenger_per_type(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    _insert_model(conn, "m_1.0.0", "champion", 0)
    _insert_model(conn, "m_1.0.1", "challenger", 1)
    _insert_model(conn, "m_1.0.2", "registered", 2)
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("UPDATE models SET status = 'champion' WHERE id = 'm_1.0.2'")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        conn.execute("UPDATE models SET status = 'challenger' WHERE id = 'm_1.0.2'")
    with pytest.raises(sqlite3.IntegrityError, match="UNIQUE"):
        _insert_model(conn, "m_dup", "registered", 0)  # same name + version
    with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        conn.execute("UPDATE models SET status = 'winner' WHERE id = 'm_1.0.2'")


def test_ledger_and_backups_are_append_only(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    _insert_model(conn, "m_1.0.0", "registered", 0)
    conn.execute(
        "INSERT INTO ledger (at, model_id, model_type, action, to_status, actor, reason)"
        " VALUES (1, 'm_1.0.0', 't', 'register', 'registered', 'me', 'why')"
    )
    conn.execute(
        "INSERT INTO champion_backups (at, model_type, model_id, replaced_by, snapshot)"
        " VALUES (1, 't', 'm_1.0.0', 'x', '{}')"
    )
    for table in ("ledger", "champion_backups"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only: UPDATE refused"):
            conn.execute(f"UPDATE {table} SET at = 2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only: DELETE refused"):
            conn.execute(f"DELETE FROM {table}")
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == 1


def test_write_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    conn = _open(tmp_path / "r.sqlite3")
    with pytest.raises(RuntimeError):
        with write_transaction(conn):
            _insert_model(conn, "m_1.0.0", "registered", 0)
            raise RuntimeError("boom")
    assert conn.execute("SELECT count(*) FROM models").fetchone()[0] == 0
    assert not conn.in_transaction
