"""Opening the registry's database (SQLite or PostgreSQL) at the latest schema.

Every write goes through ``db.transaction(WriteScope.REGISTRY)``, which takes the registry's
write lock up front: read-check-write sequences from concurrent processes serialise instead of
failing half-way.
"""

from __future__ import annotations

from collections.abc import Callable

from learner.db import Database, Location, SchemaVersionError as DbSchemaVersionError
from learner.db import migrate, open_database
from learner.registry.errors import SchemaVersionError
from learner.registry.schema import REGISTRY_SCHEMA

__all__ = ["open_registry_database"]


def open_registry_database(location: Location, busy_timeout_s: float,
                           now: Callable[[], float]) -> Database:
    """Open (creating if needed) and migrate the registry database at ``location``.

    Raises :class:`SchemaVersionError` for a database written by a newer registry.
    """
    db = open_database(location, busy_timeout_s=busy_timeout_s)
    try:
        migrate(db, REGISTRY_SCHEMA, now)
    except DbSchemaVersionError as exc:
        db.close()
        raise SchemaVersionError(str(exc)) from exc
    except BaseException:
        db.close()
        raise
    return db
