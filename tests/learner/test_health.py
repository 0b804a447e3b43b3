"""Champion health: guards, severities."""

from __future__ import annotations

from learner.abtest import ArmStats
from learner.health import HealthPolicy, HealthSeverity, arm_stats_from_predictions, assess_health


def test_severities() -> None:
    policy = HealthPolicy(latency_p99_ms=500.0)
    ok = assess_health(ArmStats("m", 2000, 2000, 1700), 0.85, policy)
    assert ok.healthy and ok.severity is HealthSeverity.HEALTHY
    warn = assess_health(ArmStats("m", 2000, 2000, 1640), 0.85, policy)
    assert warn.severity is HealthSeverity.DEGRADED
    slow = assess_health(ArmStats("m", 2000, 2000, 1700, latency_p99_ms=900.0), 0.85, policy)
    assert slow.severity is HealthSeverity.DEGRADED
    bad = assess_health(ArmStats("m", 2000, 2000, 1500), 0.85, policy)
    assert bad.severity is HealthSeverity.CRITICAL
    errors = assess_health(ArmStats("m", 2000, 2000, 1700, errors=300), 0.85, policy)
    assert errors.severity is HealthSeverity.CRITICAL


def test_too_few_labels_is_not_a_verdict() -> None:
    result = assess_health(ArmStats("m", 50, 50, 20), 0.85, HealthPolicy())
    assert result.healthy and result.details["note"].startswith("Insufficient samples for evaluation")


def test_seed_prediction_dicts() -> None:
    stats = arm_stats_from_predictions("m", [
        {"prediction": 1, "ground_truth": 1, "latency_ms": 10.0},
        {"prediction": 1, "ground_truth": 0, "latency_ms": 30.0, "error": True},
        {"correct": True},
    ])
    assert (stats.records, stats.labelled, stats.correct, stats.errors) == (3, 3, 2, 1)


def test_critical_without_a_previous_champion_reports_instead_of_failing(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from learner.fleet import LocalFleet
    from learner.health import HealthMonitor
    from learner.notify import RecordingNotifier
    from learner.registry import ModelRegistry
    from learner.rollback import Rollback
    from learner.routing import RoutingPlan
    from tests.learner.simulation import tiny_model

    with ModelRegistry(tmp_path / "r") as registry:
        only = registry.register_model(tiny_model(0), "m", "m", {"accuracy": 0.85})
        registry.promote_to_champion(only, reason="initial")
        notes = RecordingNotifier()
        monitor = HealthMonitor(registry, Rollback(registry, RoutingPlan(), LocalFleet.with_sidecars(1),
                                                   notes), notes)
        out = monitor.check("m", ArmStats(only, 2000, 2000, 1400))
        assert out["severity"] == "critical" and out["rollback"] is False
        assert "no earlier" in out["rollback_error"]
