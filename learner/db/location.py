"""Where a database lives: an SQLite file (the embedded default) or a PostgreSQL server.

A PostgreSQL URL never carries the password: it is read when connecting, from a file
(``password_file``, e.g. a mounted Kubernetes secret) or an environment variable
(``password_env``).

>>> location_from("/var/lib/loopwise/registry.sqlite3").backend
<Backend.SQLITE: 'sqlite'>
>>> location_from("postgresql://loopwise@db:5432/loopwise", password_env="PGPW").backend
<Backend.POSTGRESQL: 'postgresql'>
>>> location_from("postgresql://loopwise:secret@db/loopwise")
Traceback (most recent call last):
...
learner.db.errors.InvalidLocationError: a postgresql URL must not contain the password: use password_file or password_env
"""

from __future__ import annotations

import enum
import os
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from learner.db.errors import InvalidLocationError

__all__ = ["Backend", "SqliteLocation", "PostgresLocation", "Location", "location_from",
           "location_fields"]


class Backend(enum.Enum):
    """The database engines the storage seam supports."""

    SQLITE = "sqlite"
    POSTGRESQL = "postgresql"


@dataclass(frozen=True)
class SqliteLocation:
    """An SQLite database file (created on first open)."""

    path: Path

    backend = Backend.SQLITE

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        if not str(self.path) or str(self.path) == ".":
            raise InvalidLocationError("an SQLite location needs a file path")

    def __str__(self) -> str:
        return str(self.path)


_SCHEMES = ("postgresql", "postgres")


@dataclass(frozen=True)
class PostgresLocation:
    """A PostgreSQL database: ``postgresql://user@host:port/dbname[?options]``.

    The password comes from ``password_file`` (its content, stripped) or the environment
    variable ``password_env``; with neither, libpq's own sources (``PGPASSWORD``, ``.pgpass``,
    peer or trust authentication) apply.
    """

    url: str
    password_file: Path | None = None
    password_env: str | None = None
    connect_timeout_s: float = field(default=10.0, metadata={"help": "connection timeout"})

    backend = Backend.POSTGRESQL

    def __post_init__(self) -> None:
        if self.password_file is not None:
            object.__setattr__(self, "password_file", Path(self.password_file))
        problems: list[str] = []
        try:
            parts = urlsplit(self.url)
        except ValueError as exc:
            raise InvalidLocationError(f"malformed postgresql URL: {exc}") from None
        if parts.scheme not in _SCHEMES:
            problems.append(f"a postgresql URL starts with postgresql://, not {parts.scheme}://")
        if parts.password is not None:
            problems.append("a postgresql URL must not contain the password: "
                            "use password_file or password_env")
        if not parts.path.strip("/"):
            problems.append("a postgresql URL must name the database (postgresql://host/dbname)")
        if self.password_file is not None and self.password_env is not None:
            problems.append("set at most one of password_file and password_env")
        if self.password_env is not None and not self.password_env.strip():
            problems.append("password_env must name an environment variable")
        if not self.connect_timeout_s > 0:
            problems.append(f"connect_timeout_s must be > 0, got {self.connect_timeout_s}")
        if problems:
            raise InvalidLocationError("; ".join(problems))

    def password(self) -> str | None:
        """The password from its file or variable (``None`` when neither is configured)."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text().strip()
            except OSError as exc:
                raise InvalidLocationError(
                    f"cannot read the database password file {self.password_file}: {exc}"
                ) from None
        if self.password_env is not None:
            value = os.environ.get(self.password_env)
            if value is None:
                raise InvalidLocationError(
                    f"the database password variable {self.password_env} is not set")
            return value
        return None

    def settings(self) -> dict[str, str | Path | None]:
        """``url``, ``password_file``, ``password_env``: the keys of a ``[registry]`` section."""
        return {"url": self.url, "password_file": self.password_file,
                "password_env": self.password_env}

    def __str__(self) -> str:
        return self.url


Location = SqliteLocation | PostgresLocation


def location_from(target: str | Path, *, password_file: Path | str | None = None,
                  password_env: str | None = None) -> Location:
    """A PostgreSQL location for a ``postgresql://`` URL, else an SQLite file path."""
    text = str(target)
    if text.split(":", 1)[0] in _SCHEMES and "://" in text:
        return PostgresLocation(text, None if password_file is None else Path(password_file),
                                password_env)
    if password_file is not None or password_env is not None:
        raise InvalidLocationError("a password applies to a postgresql:// URL only")
    return SqliteLocation(Path(text))


def location_fields(location: Location) -> dict[str, str | None]:
    """``target``, ``password_file`` and ``password_env`` of ``location``: what
    :func:`location_from` takes back, to hand a location to another process (never the
    password itself)."""
    if isinstance(location, PostgresLocation):
        return {"target": location.url,
                "password_file": None if location.password_file is None else str(location.password_file),
                "password_env": location.password_env}
    return {"target": str(location.path), "password_file": None, "password_env": None}
