"""SQLite schema of the registry: DDL, migrations and the schema version table.

Invariants live in the database, not only in Python:

* ``one_champion_per_type`` / ``one_challenger_per_type``: partial unique indexes, so a second
  champion or challenger for a model type cannot be written by any process.
* ``UNIQUE (name, major, minor, patch)``: no version is registered twice.
* ``ledger`` and ``champion_backups`` are append-only: triggers abort every UPDATE and DELETE.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from learner.registry.errors import SchemaVersionError
from learner.registry.status import ModelStatus

__all__ = ["Migration", "MIGRATIONS", "current_version", "migrate"]

_STATUSES = ", ".join(f"'{status.value}'" for status in ModelStatus)


@dataclass(frozen=True)
class Migration:
    """One forward step of the schema; ``statements`` run in a single transaction."""

    version: int
    description: str
    statements: tuple[str, ...]


_V1 = Migration(
    version=1,
    description="models, lineage, append-only ledger and champion backups",
    statements=(
        f"""
        CREATE TABLE models (
            id              TEXT PRIMARY KEY,
            name            TEXT NOT NULL,
            model_type      TEXT NOT NULL,
            major           INTEGER NOT NULL CHECK (major >= 0),
            minor           INTEGER NOT NULL CHECK (minor >= 0),
            patch           INTEGER NOT NULL CHECK (patch >= 0),
            status          TEXT NOT NULL CHECK (status IN ({_STATUSES})),
            artifact_sha256 TEXT NOT NULL CHECK (length(artifact_sha256) = 64),
            artifact_uri    TEXT NOT NULL,
            artifact_bytes  INTEGER NOT NULL CHECK (artifact_bytes >= 0),
            artifact_kind   TEXT NOT NULL,
            metrics         TEXT NOT NULL DEFAULT '{{}}',
            metadata        TEXT NOT NULL DEFAULT '{{}}',
            base_model      TEXT,
            training_job    TEXT,
            data_window     TEXT,
            drift_report    TEXT,
            created_at      REAL NOT NULL,
            updated_at      REAL NOT NULL,
            UNIQUE (name, major, minor, patch)
        )
        """,
        "CREATE UNIQUE INDEX one_champion_per_type ON models (model_type) "
        "WHERE status = 'champion'",
        "CREATE UNIQUE INDEX one_challenger_per_type ON models (model_type) "
        "WHERE status = 'challenger'",
        "CREATE INDEX models_by_type_status ON models (model_type, status)",
        "CREATE INDEX models_by_base_model ON models (base_model) WHERE base_model IS NOT NULL",
        "CREATE INDEX models_by_training_job ON models (training_job) "
        "WHERE training_job IS NOT NULL",
        "CREATE INDEX models_by_drift_report ON models (drift_report) "
        "WHERE drift_report IS NOT NULL",
        f"""
        CREATE TABLE ledger (
            seq                  INTEGER PRIMARY KEY AUTOINCREMENT,
            at                   REAL NOT NULL,
            model_id             TEXT NOT NULL REFERENCES models (id),
            model_type           TEXT NOT NULL,
            action               TEXT NOT NULL,
            from_status          TEXT CHECK (from_status IN ({_STATUSES})),
            to_status            TEXT NOT NULL CHECK (to_status IN ({_STATUSES})),
            actor                TEXT NOT NULL,
            reason               TEXT NOT NULL,
            statistics           TEXT NOT NULL DEFAULT '{{}}',
            previous_champion_id TEXT,
            fallback_id          TEXT
        )
        """,
        "CREATE INDEX ledger_by_model ON ledger (model_id, seq)",
        "CREATE INDEX ledger_by_type ON ledger (model_type, seq)",
        """
        CREATE TRIGGER ledger_no_update BEFORE UPDATE ON ledger
        BEGIN SELECT RAISE(ABORT, 'ledger is append-only: UPDATE refused'); END
        """,
        """
        CREATE TRIGGER ledger_no_delete BEFORE DELETE ON ledger
        BEGIN SELECT RAISE(ABORT, 'ledger is append-only: DELETE refused'); END
        """,
        """
        CREATE TABLE champion_backups (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            at         REAL NOT NULL,
            model_type TEXT NOT NULL,
            model_id   TEXT NOT NULL REFERENCES models (id),
            replaced_by TEXT NOT NULL,
            snapshot   TEXT NOT NULL
        )
        """,
        "CREATE INDEX champion_backups_by_type ON champion_backups (model_type, seq)",
        """
        CREATE TRIGGER champion_backups_no_update BEFORE UPDATE ON champion_backups
        BEGIN SELECT RAISE(ABORT, 'champion_backups is append-only: UPDATE refused'); END
        """,
        """
        CREATE TRIGGER champion_backups_no_delete BEFORE DELETE ON champion_backups
        BEGIN SELECT RAISE(ABORT, 'champion_backups is append-only: DELETE refused'); END
        """,
    ),
)

_PHASES = "'monitoring', 'retraining', 'ab_testing'"
_TEST_STATUSES = "'running', 'concluded', 'stopped'"
_EVENT_KINDS = ("'drift', 'retraining', 'ab_test', 'promotion', 'rollback', 'health', 'report', "
                "'routing'")


def _append_only(table: str) -> tuple[str, ...]:
    return tuple(
        f"CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table} "
        f"BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END"
        for op in ("UPDATE", "DELETE"))


_V2 = Migration(
    version=2,
    description="durable loop state: per-type phase and cursors, routing table, A/B tests, "
                "event stream, drift checks, schedule",
    statements=(
        f"""
        CREATE TABLE loop_state (
            model_type TEXT PRIMARY KEY,
            phase      TEXT NOT NULL CHECK (phase IN ({_PHASES})),
            state      TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        """
        CREATE TABLE routing (
            id         INTEGER PRIMARY KEY CHECK (id = 1),
            generation INTEGER NOT NULL CHECK (generation >= 0),
            routes     TEXT NOT NULL,
            updated_at REAL NOT NULL
        )
        """,
        # A generation only ever grows, whoever writes it.
        """
        CREATE TRIGGER routing_generation_grows BEFORE UPDATE ON routing
        WHEN NEW.generation <= OLD.generation
        BEGIN SELECT RAISE(ABORT, 'routing generation must grow'); END
        """,
        f"""
        CREATE TABLE ab_tests (
            test_id       TEXT PRIMARY KEY,
            model_type    TEXT NOT NULL,
            champion_id   TEXT NOT NULL,
            challenger_id TEXT NOT NULL,
            traffic_split REAL NOT NULL CHECK (traffic_split > 0 AND traffic_split < 1),
            started_ms    INTEGER NOT NULL,
            generation    INTEGER NOT NULL,
            status        TEXT NOT NULL CHECK (status IN ({_TEST_STATUSES})),
            sequential    TEXT NOT NULL,
            last_result   TEXT,
            ended_at      REAL
        )
        """,
        "CREATE UNIQUE INDEX one_running_test_per_type ON ab_tests (model_type) "
        "WHERE status = 'running'",
        f"""
        CREATE TABLE loop_events (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            at         REAL NOT NULL,
            kind       TEXT NOT NULL CHECK (kind IN ({_EVENT_KINDS})),
            model_type TEXT NOT NULL,
            subject    TEXT NOT NULL,
            message    TEXT NOT NULL,
            details    TEXT NOT NULL
        )
        """,
        "CREATE INDEX loop_events_by_type ON loop_events (model_type, at)",
        *_append_only("loop_events"),
        """
        CREATE TABLE drift_checks (
            seq        INTEGER PRIMARY KEY AUTOINCREMENT,
            at         REAL NOT NULL,
            model_type TEXT NOT NULL,
            model_id   TEXT NOT NULL,
            drift      INTEGER NOT NULL CHECK (drift IN (0, 1)),
            features   TEXT NOT NULL
        )
        """,
        "CREATE INDEX drift_checks_by_type ON drift_checks (model_type, at)",
        """
        CREATE TABLE schedule (
            job      TEXT PRIMARY KEY,
            last_run REAL NOT NULL
        )
        """,
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2)

_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL,
    description TEXT NOT NULL
)
"""


def current_version(conn: sqlite3.Connection) -> int:
    """The highest applied migration (0 for an empty database)."""
    row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()
    return int(row[0])


def migrate(
    conn: sqlite3.Connection,
    now: Callable[[], float],
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Apply pending migrations, each in its own ``BEGIN IMMEDIATE`` transaction.

    Safe to call from several processes at once: the version is re-read under the write
    lock, so each migration is applied exactly once. Returns the resulting version.
    Raises :class:`SchemaVersionError` for a database newer than ``migrations``.
    """
    known = max((m.version for m in migrations), default=0)
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute(_VERSION_TABLE)
        version = current_version(conn)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    if version > known:
        raise SchemaVersionError(
            f"database schema version {version} is newer than this registry's ({known})"
        )
    for migration in sorted(migrations, key=lambda m: m.version):
        conn.execute("BEGIN IMMEDIATE")
        try:
            if current_version(conn) < migration.version:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at, description) "
                    "VALUES (?, ?, ?)",
                    (migration.version, now(), migration.description),
                )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return current_version(conn)
