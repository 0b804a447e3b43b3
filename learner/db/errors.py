"""Typed errors of the storage seam, the same whichever database is behind it.

A constraint the database enforces (a unique index, a CHECK, an append-only trigger) surfaces
as :class:`ConstraintViolation` with its :class:`Constraint` kind as an attribute, so callers
branch on the kind, never on a backend's message text.
"""

from __future__ import annotations

import enum

__all__ = [
    "Constraint",
    "DatabaseError",
    "ConstraintViolation",
    "TransientError",
    "LockTimeoutError",
    "DatabaseUnavailableError",
    "InvalidLocationError",
    "SchemaVersionError",
]


class Constraint(enum.Enum):
    """Which kind of rule the database refused a write under."""

    UNIQUE = "unique"  # a unique index or primary key
    CHECK = "check"
    FOREIGN_KEY = "foreign_key"
    NOT_NULL = "not_null"
    TRIGGER = "trigger"  # a rule a trigger enforces (append-only tables, growing generation)


class DatabaseError(Exception):
    """Base class of every storage error."""


class ConstraintViolation(DatabaseError):
    """The database refused a write: ``constraint`` says under which kind of rule."""

    def __init__(self, message: str, constraint: Constraint) -> None:
        super().__init__(f"{constraint.value} constraint: {message}")
        self.constraint = constraint


class TransientError(DatabaseError):
    """A transaction the database aborted to keep transactions serial (a serialization failure
    or a deadlock): running it again may succeed (``learner.db.retry``)."""


class LockTimeoutError(DatabaseError):
    """Another writer held the write lock longer than the busy timeout (not retried: the
    timeout already was the wait)."""


class DatabaseUnavailableError(DatabaseError):
    """The database could not be reached or opened."""


class InvalidLocationError(DatabaseError, ValueError):
    """A database location (path, URL, password source) that is malformed or unusable."""


class SchemaVersionError(DatabaseError):
    """A database whose schema is newer than this code's migrations."""
