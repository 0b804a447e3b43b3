"""What the loop remembers per model type, as a frozen value that the store writes as JSON.

>>> s = ModelLoopState("clf", drift_cursor_ms=5)
>>> ModelLoopState.from_json("clf", Phase.MONITORING.value, s.to_json()) == s
True
>>> s.with_phase(Phase.RETRAINING, pending_jobs=("job-1",)).phase
<Phase.RETRAINING: 'retraining'>
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from learner.named_enum import NamedEnum

__all__ = ["Phase", "ModelLoopState"]


class Phase(NamedEnum):
    """Where a model type is in the loop (Flagger's canary phases, for a learning loop).

    ``MONITORING``: the champion serves all traffic; drift and health are watched.
    ``RETRAINING``: retraining jobs run (drift and health still watched).
    ``AB_TESTING``: a challenger serves its share; the test is evaluated on its looks.
    """

    MONITORING = "monitoring"
    RETRAINING = "retraining"
    AB_TESTING = "ab_testing"


@dataclass(frozen=True)
class ModelLoopState:
    """The loop's memory of one model type; every field survives a restart.

    ``drift_cursor_ms``: windows starting before it were judged already (never twice).
    ``champion_since_ms``: health looks at the champion's windows from here on.
    ``pending_jobs``: retraining jobs started and not yet finished.
    ``test_id``: the running A/B test (phase ``AB_TESTING``).
    ``in_drift`` / ``health_alerted``: anti-flapping — one notification per episode.
    ``last_rollback_ms``: when the last rollback of this type happened (0: never).
    """

    model_type: str
    phase: Phase = Phase.MONITORING
    drift_cursor_ms: int = 0
    champion_since_ms: int = 0
    pending_jobs: tuple[str, ...] = ()
    test_id: str | None = None
    in_drift: bool = False
    health_alerted: bool = False
    last_rollback_ms: int = 0

    def with_phase(self, phase: Phase, **changes: Any) -> ModelLoopState:
        return replace(self, phase=phase, **changes)

    def to_json(self) -> str:
        body = asdict(self)
        del body["model_type"], body["phase"]
        body["pending_jobs"] = list(self.pending_jobs)
        return json.dumps(body, sort_keys=True)

    @staticmethod
    def from_json(model_type: str, phase: str, text: str) -> ModelLoopState:
        body = json.loads(text)
        known = {k: v for k, v in body.items() if k in _FIELDS}
        known["pending_jobs"] = tuple(known.get("pending_jobs", ()))
        return ModelLoopState(model_type, Phase.parse(phase), **known)


_FIELDS = {"drift_cursor_ms", "champion_since_ms", "pending_jobs", "test_id", "in_drift",
           "health_alerted", "last_rollback_ms"}
