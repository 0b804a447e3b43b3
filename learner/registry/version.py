"""Semantic versions of registered models: ``MAJOR.MINOR.PATCH``.

>>> v1 = ModelVersion(1, 0, 0)
>>> str(v1.increment_patch()), str(v1.increment_minor()), str(v1.increment_major())
('1.0.1', '1.1.0', '2.0.0')
>>> ModelVersion.parse("1.2.3") > ModelVersion(1, 2, 0)
True
>>> ModelVersion(1, 4, 0).is_compatible_with(ModelVersion(1, 0, 9))
True
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from learner.registry.errors import InvalidVersionError

__all__ = ["ModelVersion", "VersionBump"]

_VERSION_RE = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")
_MAX_PART = 2**31 - 1


class VersionBump(enum.Enum):
    """Which part of the latest version the registry increments for a new registration."""

    PATCH = "patch"
    MINOR = "minor"
    MAJOR = "major"


@dataclass(frozen=True, order=True, slots=True)
class ModelVersion:
    """An immutable, totally ordered semantic version (ordered by major, minor, patch)."""

    major: int
    minor: int
    patch: int

    def __post_init__(self) -> None:
        for part in (self.major, self.minor, self.patch):
            if isinstance(part, bool) or not isinstance(part, int):
                raise InvalidVersionError(f"version parts must be integers, got {part!r}")
            if not 0 <= part <= _MAX_PART:
                raise InvalidVersionError(f"version part out of range: {part}")

    @classmethod
    def parse(cls, text: str) -> ModelVersion:
        """Parse ``"1.2.3"``; raises :class:`InvalidVersionError` on anything else."""
        if not isinstance(text, str):
            raise InvalidVersionError(f"version must be a string like '1.2.3', got {text!r}")
        match = _VERSION_RE.match(text.strip())
        if match is None:
            raise InvalidVersionError(f"invalid version {text!r}: expected MAJOR.MINOR.PATCH")
        major, minor, patch = (int(group) for group in match.groups())
        return cls(major, minor, patch)

    @classmethod
    def coerce(cls, value: ModelVersion | str) -> ModelVersion:
        """Accept a version or its string form."""
        return value if isinstance(value, ModelVersion) else cls.parse(value)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"

    def increment_patch(self) -> ModelVersion:
        """Bug fix or retraining on fresh data: ``1.0.0 -> 1.0.1``."""
        return ModelVersion(self.major, self.minor, self.patch + 1)

    def increment_minor(self) -> ModelVersion:
        """New, backward-compatible capability: ``1.0.3 -> 1.1.0``."""
        return ModelVersion(self.major, self.minor + 1, 0)

    def increment_major(self) -> ModelVersion:
        """Breaking change (new inputs or outputs): ``1.4.2 -> 2.0.0``."""
        return ModelVersion(self.major + 1, 0, 0)

    def bump(self, part: VersionBump) -> ModelVersion:
        """Increment the given part."""
        if part is VersionBump.MAJOR:
            return self.increment_major()
        if part is VersionBump.MINOR:
            return self.increment_minor()
        return self.increment_patch()

    def is_compatible_with(self, other: ModelVersion) -> bool:
        """Same major version: callers of one can call the other."""
        return self.major == other.major
