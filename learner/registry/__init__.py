"""Model registry: semantic versions, champion/challenger lifecycle, append-only ledger.

>>> from learner.registry import ModelRegistry, ModelVersion
"""

from learner.registry.artifacts import ArtifactKind
from learner.registry.config import RegistryConfig
from learner.registry.errors import (
    ArtifactError,
    ArtifactIntegrityError,
    ArtifactMissingError,
    DuplicateVersionError,
    InvalidConfigError,
    InvalidMetadataError,
    InvalidNameError,
    InvalidTransitionError,
    InvalidVersionError,
    LedgerError,
    ModelNotFoundError,
    NoChampionError,
    NoPreviousChampionError,
    RegistryError,
    SchemaVersionError,
    UnsupportedModelError,
)
from learner.registry.ledger import ChampionBackup, LedgerEntry
from learner.registry.records import Lineage, ModelRecord
from learner.registry.registry import ModelRegistry
from learner.registry.status import LedgerAction, ModelStatus
from learner.registry.version import ModelVersion, VersionBump

__all__ = [
    "ArtifactError",
    "ArtifactIntegrityError",
    "ArtifactKind",
    "ArtifactMissingError",
    "ChampionBackup",
    "DuplicateVersionError",
    "InvalidConfigError",
    "InvalidMetadataError",
    "InvalidNameError",
    "InvalidTransitionError",
    "InvalidVersionError",
    "LedgerAction",
    "LedgerEntry",
    "LedgerError",
    "Lineage",
    "ModelNotFoundError",
    "ModelRecord",
    "ModelRegistry",
    "ModelStatus",
    "ModelVersion",
    "NoChampionError",
    "NoPreviousChampionError",
    "RegistryConfig",
    "RegistryError",
    "SchemaVersionError",
    "UnsupportedModelError",
    "VersionBump",
]
