"""Champion health: a pure assessment of recent outcomes, and the monitor that rolls back.

:func:`assess_health` (pure) compares the champion's recent accuracy with its baseline
accuracy (the ``accuracy`` metric it was registered or promoted with):

* ``CRITICAL``: accuracy more than ``degradation`` (0.05) below the baseline and significantly
  so (one-sided z-test, p <= ``q``), with at least ``min_labelled`` labels; or an error rate
  above ``max_error_rate``. A critical champion is rolled back when ``auto_rollback``.
* ``DEGRADED``: accuracy more than half the degradation below the baseline, or latency p99
  above ``latency_p99_ms``.
* ``HEALTHY`` otherwise, including when there are too few labels to judge ("Insufficient
  samples for evaluation").

>>> from learner.abtest import ArmStats
>>> assess_health(ArmStats("m", records=1000, labelled=1000, correct=700), 0.85, HealthPolicy()).severity
<HealthSeverity.CRITICAL: 'critical'>
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import statcore
from learner.abtest import INSUFFICIENT_SAMPLES, ArmStats
from learner.errors import InvalidInputError, UnknownModelTypeError
from learner.notify import EventKind, Notification, Notifier
from learner.registry import ModelRegistry, NoPreviousChampionError
from learner.rollback import Rollback

__all__ = ["HealthSeverity", "HealthPolicy", "HealthAssessment", "HealthMonitor",
           "assess_health", "arm_stats_from_predictions"]


class HealthSeverity(enum.Enum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    CRITICAL = "critical"


@dataclass(frozen=True)
class HealthPolicy:
    degradation: float = 0.05
    min_labelled: int = 500
    max_error_rate: float = 0.05
    latency_p99_ms: float | None = None
    q: float = 0.001

    def __post_init__(self) -> None:
        if not 0 <= self.degradation <= 1 or not 0 < self.q < 1 or self.min_labelled < 1:
            raise InvalidInputError("invalid HealthPolicy")


@dataclass(frozen=True)
class HealthAssessment:
    healthy: bool
    severity: HealthSeverity
    issues: tuple[str, ...]
    accuracy: float | None
    baseline_accuracy: float | None
    labelled: int
    details: Mapping[str, Any] = field(default_factory=dict)
    #: False when too few labels arrived for an accuracy verdict: "healthy" then only means
    #: "nothing found", not that an earlier problem has gone (the loop keeps its episode open)
    conclusive: bool = True


def assess_health(window: ArmStats, baseline_accuracy: float | None, policy: HealthPolicy) -> HealthAssessment:
    """The champion's health from one window of outcomes (pure)."""
    critical: list[str] = []
    degraded: list[str] = []
    accuracy = window.accuracy
    if window.error_rate is not None and window.records >= policy.min_labelled \
            and window.error_rate > policy.max_error_rate:
        critical.append(f"error rate {window.error_rate:.4f} > {policy.max_error_rate}")
    if policy.latency_p99_ms is not None and window.latency_p99_ms is not None \
            and window.latency_p99_ms > policy.latency_p99_ms:
        degraded.append(f"latency p99 {window.latency_p99_ms:.1f} ms > {policy.latency_p99_ms} ms")
    conclusive = True
    if accuracy is not None and baseline_accuracy is not None:
        if window.labelled < policy.min_labelled:
            conclusive = False
            degraded_note = f"{INSUFFICIENT_SAMPLES}: {window.labelled} < {policy.min_labelled} labels"
            details = {"note": degraded_note}
        else:
            details = {}
            drop = baseline_accuracy - accuracy
            var = baseline_accuracy * (1 - baseline_accuracy) / window.labelled
            p = 0.5 * math.erfc(drop / math.sqrt(2 * var)) if var > 0 else float(drop <= 0)
            if drop > policy.degradation and p <= policy.q:
                critical.append(f"accuracy {accuracy:.4f} is {drop:.4f} below baseline "
                                f"{baseline_accuracy:.4f} (p={p:.2e})")
            elif drop > policy.degradation / 2:
                degraded.append(f"accuracy {accuracy:.4f} is {drop:.4f} below baseline {baseline_accuracy:.4f}")
    else:
        details = {}
    severity = (HealthSeverity.CRITICAL if critical else
                HealthSeverity.DEGRADED if degraded else HealthSeverity.HEALTHY)
    return HealthAssessment(severity is HealthSeverity.HEALTHY, severity, tuple(critical + degraded),
                            accuracy, baseline_accuracy, window.labelled, details,
                            conclusive=conclusive or severity is not HealthSeverity.HEALTHY)


def arm_stats_from_predictions(model_id: str, recent: Any) -> ArmStats:
    """Accepts an :class:`ArmStats`, a :class:`statcore.Aggregate`, or the seed's list of
    prediction dicts (``prediction``, ``ground_truth`` or ``correct``, ``latency_ms``, ``error``)."""
    if isinstance(recent, ArmStats):
        return recent
    if isinstance(recent, statcore.Aggregate):
        return ArmStats.from_aggregate(model_id, recent)
    if not isinstance(recent, Sequence):
        raise InvalidInputError("recent_predictions must be a list of dicts, an Aggregate or ArmStats")
    labelled = correct = errors = 0
    latencies = []
    for item in recent:
        if "correct" in item and item["correct"] is not None:
            labelled += 1
            correct += bool(item["correct"])
        elif item.get("ground_truth") is not None:
            labelled += 1
            correct += item.get("prediction") == item["ground_truth"]
        errors += bool(item.get("error", False))
        if item.get("latency_ms") is not None:
            latencies.append(float(item["latency_ms"]))
    p50 = p95 = p99 = None
    if latencies:
        p50, p95, p99 = (float(v) for v in np.percentile(latencies, [50, 95, 99]))
    return ArmStats(model_id, len(recent), labelled, correct, errors, p50, p95, p99)


class HealthMonitor:
    """Checks a champion's health and rolls it back when critical."""

    def __init__(self, registry: ModelRegistry | None, rollback: Rollback | None,
                 notifier: Notifier, *, policy: HealthPolicy | None = None) -> None:
        self._registry, self._rollback, self._notifier = registry, rollback, notifier
        self.policy = policy or HealthPolicy()

    def check(self, model_type: str, recent_predictions: Any, *, auto_rollback: bool = True,
              baseline_accuracy: float | None = None) -> dict[str, Any]:
        champion = self._registry.get_champion(model_type) if self._registry is not None else None
        if champion is None and baseline_accuracy is None:
            raise UnknownModelTypeError(f"no champion for {model_type!r}")
        model_id = champion["id"] if champion is not None else model_type
        if baseline_accuracy is None and champion is not None:
            baseline_accuracy = champion["metrics"].get("baseline_accuracy",
                                                        champion["metrics"].get("accuracy"))
        window = arm_stats_from_predictions(model_id, recent_predictions)
        health = assess_health(window, baseline_accuracy, self.policy)
        out: dict[str, Any] = {
            "healthy": health.healthy, "severity": health.severity.value, "issues": list(health.issues),
            "model_id": model_id, "accuracy": health.accuracy,
            "baseline_accuracy": health.baseline_accuracy, "labelled": health.labelled,
            "rollback": False, **health.details,
        }
        if health.severity is not HealthSeverity.HEALTHY:
            self._notifier.notify(Notification(EventKind.HEALTH, model_type,
                                               f"{model_id} {health.severity.value}: " + "; ".join(health.issues), out))
        if health.severity is HealthSeverity.CRITICAL and auto_rollback and self._rollback is not None:
            try:
                result = self._rollback(model_type, "health: " + "; ".join(health.issues),
                                        {"window": window.to_dict(), "issues": list(health.issues)})
            except NoPreviousChampionError as exc:  # nothing to go back to: retraining must help
                out["rollback_error"] = str(exc)
            else:
                out.update(rollback=True, rollback_result=result.to_dict())
        return out
