"""What the loop saw, kept for reports: drift checks and loop events, bounded per model type.

The loop appends; readers (the weekly report, the admin API) get immutable tuples.

>>> h = LoopHistory(max_entries=2)
>>> for t in (1.0, 2.0, 3.0):
...     h.record_event(t, LoopEventKind.RETRAIN, "clf", "job-1", "drift")
>>> [e.at for e in h.events("clf")]
[2.0, 3.0]
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

from learner.drift import DriftReport

__all__ = ["LoopHistory", "LoopEvent", "LoopEventKind", "DriftCheck"]


class LoopEventKind(enum.Enum):
    """Loop decisions the registry ledger does not record."""

    DRIFT_ALARM = "drift_alarm"
    RETRAIN = "retrain"


@dataclass(frozen=True)
class LoopEvent:
    at: float
    kind: LoopEventKind
    model_type: str
    subject: str
    reason: str


@dataclass(frozen=True)
class DriftCheck:
    """One evaluated drift check of a model type's champion."""

    at: float
    model_id: str
    report: DriftReport


class LoopHistory:
    """Bounded in-memory history (``max_entries`` per model type and kind)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self._max = max_entries
        self._drift: dict[str, deque[DriftCheck]] = {}
        self._events: dict[str, deque[LoopEvent]] = {}

    def record_drift(self, at: float, model_type: str, model_id: str, report: DriftReport) -> None:
        self._drift.setdefault(model_type, deque(maxlen=self._max)).append(
            DriftCheck(at, model_id, report))

    def record_event(self, at: float, kind: LoopEventKind, model_type: str, subject: str,
                     reason: str) -> None:
        self._events.setdefault(model_type, deque(maxlen=self._max)).append(
            LoopEvent(at, kind, model_type, subject, reason))

    def drift_checks(self, model_type: str, since: float = float("-inf")) -> tuple[DriftCheck, ...]:
        return tuple(c for c in self._drift.get(model_type, ()) if c.at >= since)

    def events(self, model_type: str, since: float = float("-inf")) -> tuple[LoopEvent, ...]:
        return tuple(e for e in self._events.get(model_type, ()) if e.at >= since)
