"""Typed exceptions of the learner's control loop (the registry has its own, ``learner.registry``).

Every error is a :class:`LearnerError`; bad input also subclasses ``ValueError`` and unknown
ids ``LookupError``, so existing handlers keep working.
"""

from __future__ import annotations

__all__ = [
    "LearnerError",
    "InvalidLearningConfigError",
    "InvalidInputError",
    "UnknownTestError",
    "UnknownModelTypeError",
    "FleetError",
    "SidecarUnreachableError",
    "BaselineMissingError",
]


class LearnerError(Exception):
    """Base class of every learner error."""


class InvalidLearningConfigError(LearnerError, ValueError):
    """A configuration with one or more invalid fields (all listed at once); ``issues`` holds
    each as ``(key, problem)`` so callers report them without parsing the message."""

    def __init__(self, message: str, issues: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.issues = issues


class InvalidInputError(LearnerError, ValueError):
    """Bad input to a learner call (shapes, ranges, unknown feature names)."""


class UnknownTestError(LearnerError, LookupError):
    """An A/B test id that names no test."""


class UnknownModelTypeError(LearnerError, LookupError):
    """A model type with no champion or no baseline where one is required."""


class FleetError(LearnerError):
    """A pull from or push to the sidecars failed."""


class SidecarUnreachableError(FleetError, ConnectionError):
    """One sidecar did not answer; the fleet marks it stale and goes on."""


class BaselineMissingError(LearnerError, LookupError):
    """Drift was requested for a model type that has no reference data yet."""
