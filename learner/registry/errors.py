"""Typed exceptions raised by the model registry.

Every error is a :class:`RegistryError`. Bad input (a malformed version, a name with path
separators, a transition the lifecycle forbids) also subclasses ``ValueError``; an unknown id
also subclasses ``LookupError``, so existing handlers keep working.
"""

from __future__ import annotations

from learner.db.errors import SchemaVersionError as _DbSchemaVersionError

__all__ = [
    "RegistryError",
    "InvalidVersionError",
    "InvalidNameError",
    "InvalidConfigError",
    "InvalidMetadataError",
    "InvalidTransitionError",
    "DuplicateVersionError",
    "ModelNotFoundError",
    "NoChampionError",
    "NoPreviousChampionError",
    "UnsupportedModelError",
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactMissingError",
    "LedgerError",
    "SchemaVersionError",
]


class RegistryError(Exception):
    """Base class of every registry error."""


class InvalidVersionError(RegistryError, ValueError):
    """A version string that is not ``MAJOR.MINOR.PATCH`` with non-negative integers."""


class InvalidNameError(RegistryError, ValueError):
    """A model name or type that is empty, too long, or contains path separators or ``..``."""


class InvalidConfigError(RegistryError, ValueError):
    """A registry configuration with one or more invalid fields (all listed at once)."""


class InvalidMetadataError(RegistryError, ValueError):
    """Metrics, metadata, statistics or lineage that are not a JSON-serialisable mapping/string."""


class InvalidTransitionError(RegistryError, ValueError):
    """A status change the lifecycle forbids (e.g. promoting an archived model)."""


class DuplicateVersionError(RegistryError, ValueError):
    """An explicit version that is already registered under the same name."""


class ModelNotFoundError(RegistryError, LookupError):
    """An id that names no registered model."""


class NoChampionError(RegistryError, LookupError):
    """A model type that has no champion, where one is required (e.g. to roll back)."""


class NoPreviousChampionError(RegistryError, LookupError):
    """A rollback with no earlier, non-deprecated champion to restore."""


class UnsupportedModelError(RegistryError, TypeError):
    """An object the registry cannot turn into safetensors tensors."""


class ArtifactError(RegistryError):
    """A problem with a stored artifact."""


class ArtifactIntegrityError(ArtifactError):
    """An artifact whose bytes do not hash to the recorded sha256, or are not safetensors."""


class ArtifactMissingError(ArtifactError, LookupError):
    """An artifact pointer whose file no longer exists in storage."""


class LedgerError(RegistryError):
    """The ledger refused a write (it is append-only) or is inconsistent."""


class SchemaVersionError(RegistryError, _DbSchemaVersionError):
    """A database written by a newer registry than this one understands."""
