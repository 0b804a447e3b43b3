"""Champion promotion: criteria as pure functions, side effects (registry, routing, ledger,
notification) in :class:`ChampionPromoter`.

The rule (:func:`promotion_decision`), checked in this order, first failure is the reason:

1. at least ``min_samples`` labelled outcomes per arm (``"Insufficient samples for evaluation"``);
2. no sample-ratio mismatch (srm p >= 0.001);
3. significant: the always-valid mSPRT p-value <= alpha by default (``method="z_test"``: the
   seed's fixed-horizon test, which peeking invalidates);
4. improvement of the primary metric (accuracy) >= ``min_improvement``: absolute points by
   default (0.02 = 2 points), relative (``ImprovementKind.RELATIVE``) selectable. The point
   estimate is compared, not the confidence bound: the mSPRT already guarantees the sign, and
   the floor keeps a truly 1-point-better challenger from being promoted in more than ~15 % of
   14-day experiments while a 3-point one is promoted in all of them (measured, mSPRT with
   tau = 0.05, in ``tests/learner/test_abtest_simulation.py``);
5. no guardrail worse than ``max_degradation``: error rate (absolute), per-field F1 (absolute),
   latency p99 (relative, with its own ``latency_tolerance`` of 10 % since a p99 estimate is
   noisier than 1 %);
6. no critical errors: challenger error rate <= ``critical_error_rate``.

>>> from learner.abtest import ArmStats
>>> rule = PromotionPolicy()
>>> bool(meets_promotion_rule(True, 0.03, 0.85, rule))
True
>>> bool(meets_promotion_rule(True, 0.015, 0.85, rule))
False
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from learner.abtest import (
    INSUFFICIENT_SAMPLES,
    ABTestingManager,
    ABTestResult,
    ArmStats,
    Recommendation,
)
from learner.config import ImprovementKind
from learner.errors import InvalidInputError
from learner.fleet import Fleet
from learner.health import HealthMonitor, HealthPolicy
from learner.notify import EventKind, LoggingNotifier, Notification, Notifier
from learner.registry import ModelRegistry
from learner.rollback import Rollback
from learner.routing import RoutingPlan

__all__ = [
    "PromotionPolicy",
    "PromotionDecision",
    "ChampionPromoter",
    "meets_promotion_rule",
    "guardrail_violations",
    "promotion_decision",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PromotionPolicy:
    min_improvement: float = 0.02
    max_degradation: float = 0.01
    improvement_kind: ImprovementKind = ImprovementKind.ABSOLUTE
    latency_tolerance: float = 0.10
    critical_error_rate: float = 0.05

    def __post_init__(self) -> None:
        object.__setattr__(self, "improvement_kind", ImprovementKind.parse(self.improvement_kind))
        if self.min_improvement < 0 or self.max_degradation < 0 or self.latency_tolerance < 0:
            raise InvalidInputError("min_improvement, max_degradation, latency_tolerance must be >= 0")
        if not 0 < self.critical_error_rate <= 1:
            raise InvalidInputError("critical_error_rate must be in (0, 1]")


@dataclass(frozen=True)
class PromotionDecision:
    promote: bool
    reason: str
    checks: dict[str, bool]


def improvement(estimate: Any, baseline: Any, kind: ImprovementKind) -> Any:
    """Absolute points, or relative to the champion's rate (works on numpy arrays)."""
    if kind is ImprovementKind.RELATIVE:
        return np.divide(estimate, baseline)
    return estimate


def meets_promotion_rule(significant: bool | NDArray[np.bool_], estimate: float | NDArray[np.float64],
                         champion_rate: float | NDArray[np.float64],
                         policy: PromotionPolicy) -> Any:
    """Criteria 3 and 4, vectorised (the simulations call this very function on arrays)."""
    gain = improvement(estimate, champion_rate, policy.improvement_kind)
    return np.logical_and(np.logical_and(significant, np.greater(estimate, 0)),
                          np.greater_equal(gain, policy.min_improvement))


def guardrail_violations(champion: ArmStats, challenger: ArmStats, policy: PromotionPolicy) -> list[str]:
    """Guardrails the challenger breaks (empty when none)."""
    out = []
    if champion.error_rate is not None and challenger.error_rate is not None and \
            challenger.error_rate > champion.error_rate + policy.max_degradation:
        out.append(f"error rate {challenger.error_rate:.4f} vs {champion.error_rate:.4f}")
    if champion.latency_p99_ms and challenger.latency_p99_ms is not None and \
            challenger.latency_p99_ms > champion.latency_p99_ms * (1 + policy.latency_tolerance):
        out.append(f"latency p99 {challenger.latency_p99_ms:.1f} ms vs {champion.latency_p99_ms:.1f} ms")
    for name, f1 in challenger.f1.items():
        base = champion.f1.get(name)
        if f1 is not None and base is not None and f1 < base - policy.max_degradation:
            out.append(f"F1[{name}] {f1:.4f} vs {base:.4f}")
    return out


def promotion_decision(result: ABTestResult, policy: PromotionPolicy) -> PromotionDecision:
    """Should the test's challenger be promoted? (pure; see the module docstring)."""
    checks: dict[str, bool] = {}
    checks["sufficient_samples"] = result.sufficient_samples
    if not checks["sufficient_samples"]:
        return PromotionDecision(False, result.message if result.message.startswith(
            INSUFFICIENT_SAMPLES) else INSUFFICIENT_SAMPLES, checks)
    checks["sample_ratio"] = result.recommendation is not Recommendation.INVESTIGATE_SAMPLE_RATIO
    if not checks["sample_ratio"]:
        return PromotionDecision(False, result.message, checks)
    significant = result.p_value is not None and result.recommendation in (
        Recommendation.PROMOTE_CHALLENGER, Recommendation.KEEP_CHAMPION)
    checks["significant"] = significant
    if not significant:
        return PromotionDecision(False, f"Not statistically significant (p={result.p_value:.4f})", checks)
    estimate = result.estimate or 0.0
    champion_rate = result.champion.accuracy or 0.0
    checks["improvement"] = bool(meets_promotion_rule(True, estimate, champion_rate, policy))
    if not checks["improvement"]:
        gain = improvement(estimate, champion_rate, policy.improvement_kind)
        return PromotionDecision(False, f"Improvement {gain:+.4f} below threshold "
                                        f"{policy.min_improvement:.4f} ({policy.improvement_kind.value})", checks)
    broken = guardrail_violations(result.champion, result.challenger, policy)
    checks["guardrails"] = not broken
    if broken:
        return PromotionDecision(False, "Guardrail degradation: " + "; ".join(broken), checks)
    rate = result.challenger.error_rate or 0.0
    checks["no_critical_errors"] = rate <= policy.critical_error_rate
    if not checks["no_critical_errors"]:
        return PromotionDecision(False, f"Critical errors: error rate {rate:.4f}", checks)
    return PromotionDecision(True, f"Challenger wins: {estimate:+.4f} accuracy "
                                   f"(p={result.p_value:.4g}, {result.method.value})", checks)


class ChampionPromoter:
    """The seed's promoter: ``evaluate_and_promote``, rollback and health monitoring.

    ``ab_testing`` is where the tests live; ``registry`` records the transition (the replaced
    champion is backed up first and the ledger entry holds the full statistics).
    """

    def __init__(self, min_improvement: float = 0.02, max_degradation: float = 0.01, *,
                 ab_testing: ABTestingManager | None = None, registry: ModelRegistry | None = None,
                 notifier: Notifier | None = None,
                 improvement_kind: ImprovementKind | str = ImprovementKind.ABSOLUTE,
                 health_policy: HealthPolicy | None = None) -> None:
        self.policy = PromotionPolicy(min_improvement, max_degradation, ImprovementKind.parse(improvement_kind))
        self.ab_testing = ab_testing if ab_testing is not None else ABTestingManager()
        self.registry = registry
        self.notifier: Notifier = notifier or LoggingNotifier()
        self._health_policy = health_policy

    @property
    def fleet(self) -> Fleet:
        return self.ab_testing.fleet

    @property
    def plan(self) -> RoutingPlan:
        return self.ab_testing.plan

    def evaluate_and_promote(self, test_id: str, auto_promote: bool = True) -> dict[str, Any]:
        """Evaluate ``test_id``; promote its challenger when every criterion holds."""
        result = self.ab_testing.evaluate_ab_test(test_id)
        decision = promotion_decision(result, self.policy)
        out: dict[str, Any] = {"promoted": False, "reason": decision.reason, "test_id": test_id,
                               "decision": decision.promote, "checks": decision.checks,
                               "result": result.to_dict()}
        if not decision.promote:
            log.info("%s not promoted: %s", test_id, decision.reason)
            return out
        if not auto_promote:
            out["reason"] = f"{decision.reason} (auto_promote disabled: not promoted)"
            return out
        test = self.ab_testing.get_test(test_id)
        evidence = {**result.to_dict(), "accuracy": result.challenger.accuracy, "rule": {
            "min_improvement": self.policy.min_improvement, "max_degradation": self.policy.max_degradation,
            "improvement_kind": self.policy.improvement_kind.value}}
        previous = None
        if self.registry is not None:
            previous = self.registry.promote_to_champion(
                test.challenger_id, reason=f"A/B test winner ({result.method.value})", metrics=evidence)
        push = self.fleet.push_routing(self.plan.set_route(test.model_type, champion=test.challenger_id))
        self.ab_testing.conclude(test_id)
        out.update(promoted=True, previous_champion=previous or test.champion_id,
                   new_champion=test.challenger_id, generation=push.generation,
                   missed=list(push.missed))
        self.notifier.notify(Notification(EventKind.PROMOTION, test.model_type,
                                          f"promoted {test.challenger_id}: {decision.reason}", out))
        return out

    def _rollback(self) -> Rollback:
        if self.registry is None:
            raise InvalidInputError("rollback needs a registry")
        return Rollback(self.registry, self.plan, self.fleet, self.notifier)

    def rollback_to_previous_champion(self, model_type: str, reason: str) -> dict[str, Any]:
        """Restore the previous champion and route every sidecar to it."""
        return self._rollback()(model_type, reason).to_dict()

    def monitor_champion_health(self, model_type: str, recent_predictions: Any,
                                auto_rollback: bool = True) -> dict[str, Any]:
        """Health of the champion on recent predictions; rolls back when critical."""
        monitor = HealthMonitor(self.registry, self._rollback() if self.registry else None,
                                self.notifier, policy=self._health_policy)
        return monitor.check(model_type, recent_predictions, auto_rollback=auto_rollback)
