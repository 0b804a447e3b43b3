"""Rollback: a registry transition plus a routing push with a higher generation.

Sidecars that miss the push keep refusing nothing older: they converge to the restored
champion on the next :meth:`Fleet.reconcile` (run every loop tick) once they are back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from learner.fleet import Fleet
from learner.notify import EventKind, Notification, Notifier
from learner.registry import ModelRegistry
from learner.routing import RoutingPlan

__all__ = ["RollbackResult", "Rollback"]


@dataclass(frozen=True)
class RollbackResult:
    model_type: str
    previous_champion: str | None
    restored_champion: str
    reason: str
    generation: int
    applied: tuple[str, ...]
    missed: tuple[str, ...]
    duration_s: float

    def to_dict(self) -> dict[str, Any]:
        return {"success": True, "model_type": self.model_type,
                "previous_champion": self.previous_champion,
                "restored_champion": self.restored_champion, "reason": self.reason,
                "generation": self.generation, "applied": list(self.applied),
                "missed": list(self.missed), "duration_s": self.duration_s}


class Rollback:
    """Restores the previous champion in the registry and routes every sidecar to it."""

    def __init__(self, registry: ModelRegistry, plan: RoutingPlan, fleet: Fleet,
                 notifier: Notifier, *, timer: Callable[[], float] = time.perf_counter) -> None:
        self._registry, self._plan, self._fleet = registry, plan, fleet
        self._notifier, self._timer = notifier, timer

    def __call__(self, model_type: str, reason: str,
                 statistics: Mapping[str, Any] | None = None) -> RollbackResult:
        started = self._timer()
        current = self._registry.get_champion(model_type)
        restored = self._registry.rollback_to_previous_champion(model_type, reason, statistics)
        push = self._fleet.push_routing(self._plan.set_route(model_type, champion=restored))
        result = RollbackResult(model_type, None if current is None else current["id"], restored,
                                reason, push.generation, push.applied, push.missed,
                                self._timer() - started)
        self._notifier.notify(Notification(EventKind.ROLLBACK, model_type,
                                           f"rolled back to {restored}: {reason}", result.to_dict()))
        return result
