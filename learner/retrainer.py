"""The retraining seam the loop calls (LoRA retraining lives in ``learner/training/``).

A retrainer starts a job for a model type and reports its state; a finished job names the
candidate model it registered in the registry, which the loop makes challenger.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Retrainer", "RetrainState", "RetrainStatus"]


class RetrainState(enum.Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class RetrainStatus:
    job_id: str
    state: RetrainState
    model_id: str | None = None
    message: str = ""


class Retrainer(Protocol):
    def trigger(self, model_type: str, reason: str, statistics: Mapping[str, Any]) -> str | None:
        """Start a job; returns its id, or None when no job was started (e.g. too few samples)."""
        ...

    def poll(self, job_id: str) -> RetrainStatus:
        """The job's state; ``model_id`` is the registered candidate once it succeeded."""
        ...

    def jobs_of(self, model_type: str) -> list[RetrainStatus]:
        """Every job of the type, oldest first (in the order they were started): a restarted
        learner adopts a job that started just before the previous one could record it."""
        ...
