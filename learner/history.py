"""What the loop saw, for reports: drift checks and loop events, read back from the loop store.

Nothing is kept in memory: the weekly report after a restart shows the drift, retraining and
A/B tests of the whole period (``tests/learner/loop``).
"""

from __future__ import annotations

from learner.events import EventKind, LoopEvent
from learner.loop.store import LoopStore, StoredDriftCheck

__all__ = ["LoopHistory"]


class LoopHistory:
    """A read-only view of the loop store (``ContinuousLearner.history``)."""

    def __init__(self, store: LoopStore) -> None:
        self._store = store

    def drift_checks(self, model_type: str, since: float = float("-inf")) -> tuple[StoredDriftCheck, ...]:
        return self._store.drift_checks(model_type, since)

    def events(self, model_type: str, since: float = float("-inf"),
               kinds: tuple[EventKind, ...] = ()) -> tuple[LoopEvent, ...]:
        return tuple(self._store.events(model_type, since, kinds))
