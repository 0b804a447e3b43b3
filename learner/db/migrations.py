"""Schema versions with explicit, forward-only migrations, per backend.

A :class:`Schema` is a named list of :class:`Migration` steps and the table that records which
were applied. Each step carries the DDL for each backend; both reach the same logical schema
(the same tables, columns, unique indexes and append-only rules), written in each engine's
dialect. :func:`migrate` applies the pending steps, each in its own transaction under the
schema lock, so several processes may open the same database at once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from learner.db.database import Database, WriteScope
from learner.db.errors import SchemaVersionError
from learner.db.location import Backend

__all__ = ["Migration", "Schema", "current_version", "migrate"]


@dataclass(frozen=True)
class Migration:
    """One forward step; its statements for the database's backend run in one transaction."""

    version: int
    description: str
    statements: Mapping[Backend, tuple[str, ...]]

    def __post_init__(self) -> None:
        if self.version < 1:
            raise ValueError(f"migration versions start at 1, got {self.version}")
        missing = set(Backend) - set(self.statements)
        if missing:
            raise ValueError(f"migration {self.version} has no statements for "
                             f"{sorted(b.value for b in missing)}")


@dataclass(frozen=True)
class Schema:
    """A named, versioned group of tables; ``version_table`` records the applied steps."""

    name: str
    version_table: str
    migrations: tuple[Migration, ...]

    def __post_init__(self) -> None:
        versions = [m.version for m in self.migrations]
        if versions != list(range(1, len(versions) + 1)):
            raise ValueError(f"schema {self.name}: migrations must be numbered 1..n in order, "
                             f"got {versions}")
        if not self.version_table.isidentifier():
            raise ValueError(f"schema {self.name}: bad version table {self.version_table!r}")

    @property
    def latest(self) -> int:
        return len(self.migrations)

    def up_to(self, version: int) -> Schema:
        """This schema as released at ``version`` (to test migrations from it)."""
        return Schema(self.name, self.version_table, self.migrations[:version])


_VERSION_TABLE = {
    Backend.SQLITE: "CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, "
                    "applied_at REAL NOT NULL, description TEXT NOT NULL)",
    Backend.POSTGRESQL: "CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, "
                        "applied_at DOUBLE PRECISION NOT NULL, description TEXT NOT NULL)",
}


def current_version(db: Database, schema: Schema) -> int:
    """The highest applied migration of ``schema`` (0 for an empty database)."""
    row = db.execute(f"SELECT coalesce(max(version), 0) FROM {schema.version_table}").fetchone()
    return int(row[0])


def migrate(db: Database, schema: Schema, now: Callable[[], float]) -> int:
    """Apply ``schema``'s pending migrations; returns the resulting version.

    The version is re-read under the schema lock before each step, so each migration is
    applied exactly once however many processes open the database at once. Raises
    :class:`SchemaVersionError` for a database newer than ``schema``.
    """
    with db.transaction(WriteScope.SCHEMA) as tx:
        tx.execute(_VERSION_TABLE[db.backend].format(table=schema.version_table))
        version = current_version(tx, schema)
    if version > schema.latest:
        raise SchemaVersionError(
            f"database schema {schema.name} is at version {version}, newer than this code's "
            f"({schema.latest})")
    for migration in schema.migrations[version:]:
        with db.transaction(WriteScope.SCHEMA) as tx:
            if current_version(tx, schema) < migration.version:
                for statement in migration.statements[db.backend]:
                    tx.execute(statement)
                tx.execute(f"INSERT INTO {schema.version_table} (version, applied_at, description) "
                           "VALUES (?, ?, ?)", (migration.version, now(), migration.description))
    return current_version(db, schema)
