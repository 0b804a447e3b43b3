"""Configuration of a model registry: a frozen, validated dataclass."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from learner.db import InvalidLocationError, Location, PostgresLocation, SqliteLocation
from learner.registry.errors import InvalidConfigError

__all__ = ["RegistryConfig", "default_actor"]


def default_actor() -> str:
    """``user@host/pid<N>``: who made a change when the caller does not say."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}/pid{os.getpid()}"


@dataclass(frozen=True)
class RegistryConfig:
    """Where and how a registry stores its metadata and artifacts.

    The metadata database is SQLite at ``<root>/<database_name>`` unless ``url`` names a
    PostgreSQL database (``postgresql://user@host:5432/dbname``); its password comes from
    ``password_file`` or the environment variable ``password_env``, never from the URL.
    Artifacts and the download cache stay under ``root`` (or ``artifact_url``) either way.

    All errors are reported at once in one :class:`InvalidConfigError` (a ``ValueError``).
    """

    root: Path = field(
        default=Path("model_registry"),
        metadata={"help": "directory holding the SQLite database, artifacts and cache"},
    )
    url: str | None = field(
        default=None,
        metadata={"help": "postgresql://user@host:port/dbname: a shared PostgreSQL database "
                          "instead of the embedded SQLite file (no password in the URL)"},
    )
    password_file: Path | None = field(
        default=None, metadata={"help": "file holding the PostgreSQL password (a secret mount)"}
    )
    password_env: str | None = field(
        default=None, metadata={"help": "environment variable holding the PostgreSQL password"}
    )
    artifact_url: str | None = field(
        default=None,
        metadata={"help": "fsspec URL for artifacts (s3://..., gs://...); default <root>/artifacts"},
    )
    database_name: str = field(
        default="registry.sqlite3", metadata={"help": "file name of the database under root"}
    )
    busy_timeout_s: float = field(
        default=30.0, metadata={"help": "how long a writer waits for another's lock"}
    )
    actor: str | None = field(
        default=None, metadata={"help": "recorded as who made changes; default user@host/pid"}
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))
        if self.password_file is not None:
            object.__setattr__(self, "password_file", Path(self.password_file))
        errors: list[str] = []
        if self.url is not None:
            try:
                PostgresLocation(self.url, self.password_file, self.password_env)
            except InvalidLocationError as exc:
                errors.append(f"url: {exc}")
        elif self.password_file is not None or self.password_env is not None:
            errors.append("password_file and password_env apply only with a postgresql url")
        if not str(self.root):
            errors.append("root must not be empty")
        if self.artifact_url is not None and not self.artifact_url:
            errors.append("artifact_url must be None or a non-empty URL")
        if not self.database_name or "/" in self.database_name or "\\" in self.database_name:
            errors.append(f"database_name must be a plain file name, got {self.database_name!r}")
        if not self.busy_timeout_s > 0:
            errors.append(f"busy_timeout_s must be > 0, got {self.busy_timeout_s}")
        if self.actor is not None and not self.actor.strip():
            errors.append("actor must be None or non-blank")
        if errors:
            raise InvalidConfigError("invalid RegistryConfig: " + "; ".join(errors))

    @property
    def database_path(self) -> Path:
        """Path of the SQLite database (unused when ``url`` names PostgreSQL)."""
        return self.root / self.database_name

    @property
    def location(self) -> Location:
        """Where the metadata database lives: the only thing stores are told about it."""
        if self.url is not None:
            return PostgresLocation(self.url, self.password_file, self.password_env)
        return SqliteLocation(self.database_path)

    @property
    def resolved_artifact_url(self) -> str:
        """The artifact store URL, defaulting to ``<root>/artifacts``."""
        return self.artifact_url or str(self.root / "artifacts")
