"""Configuration of a model registry: a frozen, validated dataclass."""

from __future__ import annotations

import getpass
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

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

    All errors are reported at once in one :class:`InvalidConfigError` (a ``ValueError``).
    """

    root: Path = field(
        default=Path("model_registry"),
        metadata={"help": "directory holding the SQLite metadata database"},
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
        errors: list[str] = []
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
        """Path of the SQLite database."""
        return self.root / self.database_name

    @property
    def resolved_artifact_url(self) -> str:
        """The artifact store URL, defaulting to ``<root>/artifacts``."""
        return self.artifact_url or str(self.root / "artifacts")
