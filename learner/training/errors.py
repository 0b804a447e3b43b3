"""Typed exceptions of the training subsystem (no torch here)."""

from __future__ import annotations

__all__ = [
    "TrainingError",
    "InvalidTrainingConfigError",
    "InsufficientSamplesError",
    "CorruptSampleError",
    "InvalidJobTransitionError",
    "JobNotFoundError",
    "BaseModelNotFoundError",
]


class TrainingError(Exception):
    """Base of every error raised by ``learner.training``."""


class InvalidTrainingConfigError(TrainingError, ValueError):
    """A training, data or orchestrator configuration value is invalid (all listed at once)."""


class InsufficientSamplesError(TrainingError):
    """Too little usable data to retrain; the message starts with "Insufficient samples"."""

    def __init__(self, available: int, required: int, corrections: int, pseudo_labels: int,
                 skipped_corrupt: int) -> None:
        self.available = available
        self.required = required
        self.corrections = corrections
        self.pseudo_labels = pseudo_labels
        self.skipped_corrupt = skipped_corrupt
        super().__init__(
            f"Insufficient samples for retraining: {available} usable "
            f"({corrections} human corrections + {pseudo_labels} pseudo-labels; "
            f"{skipped_corrupt} corrupt skipped), need at least {required}"
        )


class CorruptSampleError(TrainingError, ValueError):
    """A stored sample cannot be decoded into (text, label)."""


class InvalidJobTransitionError(TrainingError):
    """A job state change that the state machine does not allow."""


class JobNotFoundError(TrainingError, KeyError):
    """No job with that id."""


class BaseModelNotFoundError(TrainingError, FileNotFoundError):
    """The base model's local directory cannot be found (nothing is ever downloaded)."""
