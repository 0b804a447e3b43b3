"""The learner's sidecars: pull aggregates exactly once, push routing and baselines.

``Fleet`` is the seam; ``LocalFleet`` the in-process implementation; ``WindowCollector``
merges what the sidecars report, each window once.
"""

from learner.fleet.collector import RefreshResult, WindowCollector
from learner.fleet.interface import (
    Baseline,
    Fleet,
    Outcome,
    PullBatch,
    PulledWindow,
    PushKind,
    PushResult,
    WindowKey,
)
from learner.fleet.local import LocalFleet, LocalSidecar

__all__ = [
    "Baseline",
    "Fleet",
    "LocalFleet",
    "LocalSidecar",
    "Outcome",
    "PullBatch",
    "PulledWindow",
    "PushKind",
    "PushResult",
    "RefreshResult",
    "WindowCollector",
    "WindowKey",
]
