"""Plain, immutable views of the registry's rows: models and their lineage."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from learner.registry.errors import InvalidMetadataError, InvalidNameError
from learner.registry.status import ModelStatus
from learner.registry.version import ModelVersion

__all__ = ["Lineage", "ModelRecord", "MODEL_COLUMNS", "validate_name", "model_id_for", "to_json"]

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")
_MAX_NAME = 128


def validate_name(value: object, what: str) -> str:
    """A model name or type: safe as a path component and as part of an id."""
    if not isinstance(value, str) or not value:
        raise InvalidNameError(f"{what} must be a non-empty string, got {value!r}")
    if "/" in value or "\\" in value or ".." in value:
        raise InvalidNameError(f"{what} {value!r} must not contain path separators or '..'")
    if len(value) > _MAX_NAME or _NAME_RE.match(value) is None:
        raise InvalidNameError(
            f"{what} {value!r} must be at most {_MAX_NAME} characters of letters, digits, "
            "'_', '-' or '.', starting with a letter or digit"
        )
    return value


def model_id_for(name: str, version: ModelVersion) -> str:
    """``doc_classifier`` + ``1.0.1`` -> ``doc_classifier_1.0.1``."""
    return f"{name}_{version}"


def to_json(value: Mapping[str, Any] | None, what: str) -> str:
    """Serialise metrics/metadata/statistics; refuses what JSON cannot represent."""
    if value is None:
        return "{}"
    if not isinstance(value, Mapping):
        raise InvalidMetadataError(f"{what} must be a mapping, got {type(value).__name__}")
    try:
        return json.dumps(dict(value), sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidMetadataError(f"{what} is not JSON-serialisable: {exc}") from None


@dataclass(frozen=True)
class Lineage:
    """Where a model came from; every field optional.

    ``base_model`` is a registry id or an external name (e.g. a Hugging Face repo id);
    ``data_window`` is an opaque interval such as ``"2026-11-01T00:00Z/2026-11-08T00:00Z"``.
    """

    base_model: str | None = None
    training_job: str | None = None
    data_window: str | None = None
    drift_report: str | None = None

    def __post_init__(self) -> None:
        for name in ("base_model", "training_job", "data_window", "drift_report"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise InvalidMetadataError(f"lineage {name} must be a non-empty string or None")


MODEL_COLUMNS = (
    "id, name, model_type, major, minor, patch, status, artifact_sha256, artifact_uri, "
    "artifact_bytes, artifact_kind, metrics, metadata, base_model, training_job, data_window, "
    "drift_report, created_at, updated_at"
)


@dataclass(frozen=True)
class ModelRecord:
    """One registered model version."""

    id: str
    name: str
    model_type: str
    version: ModelVersion
    status: ModelStatus
    artifact_sha256: str
    artifact_uri: str
    artifact_bytes: int
    artifact_kind: str
    metrics: Mapping[str, Any] = field(default_factory=dict)
    metadata: Mapping[str, Any] = field(default_factory=dict)
    lineage: Lineage = field(default_factory=Lineage)
    created_at: float = 0.0
    updated_at: float = 0.0

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> ModelRecord:
        """Build from a row selected with :data:`MODEL_COLUMNS`."""
        (id_, name, model_type, major, minor, patch, status, sha, uri, size, kind, metrics,
         metadata, base_model, training_job, data_window, drift_report, created, updated) = row
        return cls(
            id=id_, name=name, model_type=model_type,
            version=ModelVersion(major, minor, patch), status=ModelStatus(status),
            artifact_sha256=sha, artifact_uri=uri, artifact_bytes=size, artifact_kind=kind,
            metrics=json.loads(metrics), metadata=json.loads(metadata),
            lineage=Lineage(base_model, training_job, data_window, drift_report),
            created_at=created, updated_at=updated,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (the shape ``get_champion`` returns)."""
        return {
            "id": self.id,
            "name": self.name,
            "model_type": self.model_type,
            "version": str(self.version),
            "status": self.status.value,
            "metrics": dict(self.metrics),
            "metadata": dict(self.metadata),
            "artifact": {
                "sha256": self.artifact_sha256,
                "uri": self.artifact_uri,
                "bytes": self.artifact_bytes,
                "kind": self.artifact_kind,
            },
            "lineage": {
                "base_model": self.lineage.base_model,
                "training_job": self.lineage.training_job,
                "data_window": self.lineage.data_window,
                "drift_report": self.lineage.drift_report,
            },
            "created_at": self.created_at,
            "updated_at": self.updated_at,
        }
