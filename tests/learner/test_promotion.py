"""Promotion criteria as pure functions, and the side effects of a promotion."""

from __future__ import annotations

import pytest

from learner.abtest import ABTestResult, ArmStats, Recommendation, Winner
from learner.config import ImprovementKind, TestMethod
from learner.promotion import PromotionPolicy, guardrail_violations, promotion_decision


def result(*, estimate: float = 0.03, p: float = 0.001, rec: Recommendation = Recommendation.PROMOTE_CHALLENGER,
           champion: ArmStats | None = None, challenger: ArmStats | None = None) -> ABTestResult:
    champion = champion or ArmStats("a", 10_000, 9000, 7650, 10, 50, 80, 100.0, {"total": 0.9})
    challenger = challenger or ArmStats("b", 1000, 1000, 880, 1, 50, 80, 100.0, {"total": 0.9})
    return ABTestResult("t", "m", TestMethod.SEQUENTIAL, Winner.CHALLENGER, p, rec, "", champion,
                        challenger, estimate, estimate - 0.01, estimate + 0.01, 0.5)


def test_promotes_when_every_criterion_holds() -> None:
    decision = promotion_decision(result(), PromotionPolicy())
    assert decision.promote and all(decision.checks.values())


@pytest.mark.parametrize(("kwargs", "reason"), [
    ({"rec": Recommendation.INSUFFICIENT_SAMPLES}, "Insufficient samples for evaluation"),
    ({"rec": Recommendation.CONTINUE_TEST}, "Not statistically significant"),
    ({"estimate": 0.015}, "Improvement +0.0150 below threshold"),
    ({"challenger": ArmStats("b", 1000, 1000, 880, 1, 50, 80, 200.0, {})}, "Guardrail degradation: latency"),
    ({"challenger": ArmStats("b", 1000, 1000, 880, 1, 50, 80, 100.0, {"total": 0.85})}, "Guardrail degradation: F1[total]"),
    ({"challenger": ArmStats("b", 1000, 1000, 880, 100, 50, 80, 100.0, {})}, "Guardrail degradation: error rate"),
])
def test_each_criterion_blocks(kwargs: dict, reason: str) -> None:  # type: ignore[type-arg]
    decision = promotion_decision(result(**kwargs), PromotionPolicy())
    assert not decision.promote and decision.reason.startswith(reason)


def test_critical_errors_block_even_within_guardrails() -> None:
    champion = ArmStats("a", 10_000, 9000, 7650, 600, 50, 80, 100.0, {})
    challenger = ArmStats("b", 1000, 1000, 880, 60, 50, 80, 100.0, {})
    decision = promotion_decision(result(champion=champion, challenger=challenger),
                                  PromotionPolicy(critical_error_rate=0.05))
    assert not decision.promote and decision.reason.startswith("Critical errors")


def test_relative_improvement() -> None:
    # +0.02 absolute on 0.85 is +2.35 % relative
    assert promotion_decision(result(estimate=0.02), PromotionPolicy(0.02, improvement_kind="relative")).promote
    assert not promotion_decision(result(estimate=0.015),
                                  PromotionPolicy(0.02, improvement_kind=ImprovementKind.RELATIVE)).promote


def test_guardrails_tolerate_small_noise() -> None:
    champion = ArmStats("a", 100, 100, 85, 1, None, None, 100.0, {"f": 0.90})
    challenger = ArmStats("b", 100, 100, 88, 1, None, None, 105.0, {"f": 0.895})
    assert guardrail_violations(champion, challenger, PromotionPolicy()) == []
