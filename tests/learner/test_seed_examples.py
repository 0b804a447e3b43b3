"""The seed's examples (docs CONTINUOUS_LEARNING.md) with our import paths.

Where the seed relies on hidden globals, collaborators are passed explicitly (the promoter is
given the A/B manager and the registry it works on); the calls and fields are the seed's.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from learner import (
    ABTestingManager,
    ChampionPromoter,
    ContinuousLearner,
    DriftDetector,
    LearningConfig,
    ManualClock,
)
from learner.registry import ModelRegistry
from tests.learner.simulation import FakeRetrainer, tiny_model


def seed_config() -> LearningConfig:
    return LearningConfig(
        drift_threshold_psi=0.25,
        min_improvement_threshold=0.02,
        enable_auto_retraining=True,
        enable_auto_promotion=True,
        enable_auto_rollback=True,
    )


def test_learning_config_defaults_are_the_seeds() -> None:
    c = LearningConfig()
    assert (c.drift_threshold_psi, c.performance_degradation_threshold) == (0.25, 0.05)
    assert (c.min_feedback_samples, c.training_lookback_days, c.min_pseudo_label_confidence) == (1000, 30, 0.9)
    assert (c.use_lora, c.lora_rank, c.lora_alpha, c.lora_dropout) == (True, 16, 32, 0.1)
    assert (c.ab_test_traffic_split, c.ab_test_min_samples, c.ab_test_significance_level) == (0.1, 1000, 0.05)
    assert (c.min_improvement_threshold, c.max_degradation_threshold) == (0.02, 0.01)
    assert c.enable_auto_retraining and c.enable_auto_promotion and c.enable_auto_rollback


def test_quick_start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # the seed's default registry root is ./model_registry
    config = seed_config()
    learner = ContinuousLearner(config=config)

    # Option 2: Run single cycle (testing/CI)
    result = learner.run_learning_cycle(model_type="vision_encoder")
    print(result)
    assert result["status"] == "no_champion"
    assert (tmp_path / "model_registry").is_dir()
    learner.close()


def test_quick_start_continuous_loop_runs_days_in_seconds(tmp_path: Path) -> None:
    clock = ManualClock()
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    champion = registry.register_model(tiny_model(0), "vision_encoder", "vision_encoder", {"accuracy": 0.9})
    registry.promote_to_champion(champion, reason="initial")
    learner = ContinuousLearner(config=seed_config(), registry=registry, clock=clock, sleeper=clock.sleep)
    # Option 1: Run continuous loop (production runs it indefinitely; here for 8 simulated days)
    learner.start_continuous_learning(until=clock() + 8 * 86400)
    runs = {job.name: job.runs for job in learner.scheduler.jobs}
    assert runs == {"drift": 192, "ab_evaluation": 32, "health": 8, "report": 1}
    assert learner.get_statistics()["learning_cycles_run"] == 192
    assert len(learner.reports) == 1


@pytest.fixture
def seeded(tmp_path: Path) -> tuple[ContinuousLearner, ModelRegistry]:
    clock = ManualClock()
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    for seed in range(2):
        registry.register_model(tiny_model(seed), "vision_encoder", "vision_encoder", {"accuracy": 0.9})
    registry.promote_to_champion("vision_encoder_1.0.0", reason="initial")
    registry.promote_to_champion("vision_encoder_1.0.1", reason="A/B test winner")
    learner = ContinuousLearner(config=seed_config(), registry=registry,
                                retrainer=FakeRetrainer(registry), clock=clock, sleeper=clock.sleep)
    return learner, registry


def test_manual_operations(seeded: tuple[ContinuousLearner, ModelRegistry]) -> None:
    learner, registry = seeded
    # Create A/B test
    test_id = learner.create_ab_test(
        champion_id="vision_encoder_1.0.0",
        challenger_id="vision_encoder_1.0.1",
        traffic_split=0.1  # 10% to challenger
    )

    # Route prediction
    model_id = learner.route_prediction(test_id)

    # Record prediction result
    learner.record_prediction(
        test_id=test_id,
        model_id=model_id,
        document_id="doc_123",
        prediction={"doc_type": "invoice"},
        ground_truth={"doc_type": "invoice"},
        latency_ms=150.0
    )

    # Manual rollback
    result = learner.rollback(
        model_type="vision_encoder",
        reason="Performance degradation in production"
    )
    assert model_id in {"vision_encoder_1.0.0", "vision_encoder_1.0.1"}
    assert result["restored_champion"] == "vision_encoder_1.0.0"
    assert registry.get_champion("vision_encoder")["id"] == "vision_encoder_1.0.0"  # type: ignore[index]
    assert learner.route_prediction(test_id, "doc_123") == "vision_encoder_1.0.0"


def test_drift_detection(capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    training_data = rng.normal(size=(10_000, 4))
    production_data = rng.normal(size=(3_000, 4))
    production_data[:, 2] += 0.8

    detector = DriftDetector(psi_threshold=0.25)

    drift_report = detector.detect_data_drift(
        baseline_data=training_data,
        current_data=production_data
    )

    if drift_report.drift_detected:
        print(f"Drift detected! PSI={drift_report.psi_score:.4f}")
        print(f"Severity: {drift_report.severity}")
        print(f"Types: {drift_report.drift_types}")

    out = capsys.readouterr().out
    assert "Drift detected! PSI=" in out
    assert drift_report.features["feature_2"].drifted
    assert not drift_report.features["feature_0"].drifted


def run_ab_traffic(ab_testing: ABTestingManager, test_id: str, n: int, accuracy: dict[str, float],
                   seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    for i in range(n):
        doc_id = f"doc_{i}"
        pred = {"doc_type": "invoice"}
        # In your prediction loop
        model_id = ab_testing.route_prediction(test_id, doc_id)
        truth = pred if rng.random() < accuracy[model_id] else {"doc_type": "receipt"}
        # Record results
        ab_testing.record_prediction(
            test_id=test_id,
            model_id=model_id,
            document_id=doc_id,
            prediction=pred,
            ground_truth=truth,
            latency_ms=float(rng.gamma(4, 30)),
        )


def test_ab_testing(capsys: pytest.CaptureFixture[str]) -> None:
    ab_testing = ABTestingManager()

    # Create test
    test_id = ab_testing.create_ab_test(
        champion_id="model_v1",
        challenger_id="model_v2",
        traffic_split=0.1  # 10% to challenger
    )
    run_ab_traffic(ab_testing, test_id, 12_000, {"model_v1": 0.80, "model_v2": 0.92})

    # Evaluate
    result = ab_testing.evaluate_ab_test(test_id, min_samples=1000)
    print(f"Winner: {result.winner}")
    print(f"P-value: {result.p_value:.4f}")
    print(f"Recommendation: {result.recommendation}")
    assert result.winner.value == "challenger"
    assert result.recommendation.value == "promote_challenger"
    assert "Winner: Winner.CHALLENGER" in capsys.readouterr().out


def test_champion_promotion_and_rollback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    registry = ModelRegistry(tmp_path / "registry")
    for seed in range(2):
        registry.register_model(tiny_model(seed), "vision_encoder", "vision_encoder", {"accuracy": 0.80})
    registry.promote_to_champion("vision_encoder_1.0.0", reason="initial")
    ab_testing = ABTestingManager(resolve_model_type=lambda mid: registry.get_model(mid).model_type)
    test_id = ab_testing.create_ab_test("vision_encoder_1.0.0", "vision_encoder_1.0.1", traffic_split=0.1)
    run_ab_traffic(ab_testing, test_id, 12_000,
                   {"vision_encoder_1.0.0": 0.80, "vision_encoder_1.0.1": 0.92}, seed=1)

    promoter = ChampionPromoter(
        min_improvement=0.02,  # 2% improvement required
        max_degradation=0.01,  # 1% degradation allowed
        ab_testing=ab_testing, registry=registry,
    )

    # Evaluate and promote
    result = promoter.evaluate_and_promote(
        test_id=test_id,
        auto_promote=True
    )

    if result["promoted"]:
        print("✅ Challenger promoted to champion!")
    else:
        print(f"❌ Not promoted: {result['reason']}")
    assert "Challenger promoted to champion" in capsys.readouterr().out
    assert registry.get_champion("vision_encoder")["id"] == "vision_encoder_1.0.1"  # type: ignore[index]
    entry = registry.get_promotion_history("vision_encoder")[-1]
    assert entry.statistics["p_value"] < 0.05 and entry.statistics["challenger"]["labelled"] >= 1000
    assert registry.get_champion_backups("vision_encoder")  # safe backup of the replaced champion

    # Manual rollback
    result = promoter.rollback_to_previous_champion(
        model_type="vision_encoder",
        reason="Performance degradation detected"
    )
    assert result["restored_champion"] == "vision_encoder_1.0.0"
    assert ab_testing.fleet.route("vision_encoder", "doc_1") == "vision_encoder_1.0.0"

    # Automatic health monitoring: a new champion (registered at accuracy 0.80) now does 0.70
    registry.register_model(tiny_model(7), "vision_encoder", "vision_encoder", {"accuracy": 0.80})
    registry.promote_to_champion("vision_encoder_1.0.2", reason="retrained")
    rng = np.random.default_rng(2)
    predictions = [{"prediction": 1, "ground_truth": int(rng.random() < 0.70), "latency_ms": 100.0}
                   for _ in range(2000)]
    health = promoter.monitor_champion_health(
        model_type="vision_encoder",
        recent_predictions=predictions,
        auto_rollback=True  # Auto-rollback if critical
    )

    if not health["healthy"]:
        print(f"⚠️ Health issue: {health['severity']}")
        if health.get("rollback"):
            print("✅ Automatic rollback executed")
    out = capsys.readouterr().out
    assert "Health issue: critical" in out and "Automatic rollback executed" in out
    assert registry.get_champion("vision_encoder")["id"] == "vision_encoder_1.0.0"  # type: ignore[index]
    registry.close()


def test_key_metrics(seeded: tuple[ContinuousLearner, ModelRegistry]) -> None:
    learner, _ = seeded
    stats = learner.get_statistics()
    text = f"""
Uptime: {stats['uptime_hours']:.1f} hours
Learning cycles: {stats['learning_cycles_run']}
Drift detected: {stats['drift_detected_count']}
Retraining triggered: {stats['retraining_triggered']}
A/B tests: {stats['ab_tests_created']}
Promotions: {stats['promotions']}
Rollbacks: {stats['rollbacks']}

Model Registry:
- Total models: {stats['model_registry']['total_models']}
- Champions: {stats['model_registry']['by_status']['champion']}
- Storage: {stats['model_registry']['storage_size_mb']:.1f} MB
"""
    assert "Total models: 2" in text and "Champions: 1" in text


def test_troubleshooting_messages(seeded: tuple[ContinuousLearner, ModelRegistry],
                                  caplog: pytest.LogCaptureFixture) -> None:
    learner, registry = seeded
    test_id = learner.create_ab_test("vision_encoder_1.0.1", "vision_encoder_1.0.0")
    # 1. "Insufficient samples for evaluation"
    result = learner.evaluate_test(test_id)
    assert result.message.startswith("Insufficient samples for evaluation")
    decision = learner.evaluate_ab("vision_encoder")
    assert decision is not None and decision["test_id"] == test_id
    assert not decision["promoted"] and decision["reason"].startswith("Insufficient samples for evaluation")
    # 2. "No drift detected" / too small windows
    report = DriftDetector().detect_data_drift(np.arange(1000.0), np.arange(100.0))
    assert report.message.startswith("Insufficient samples for drift detection")
    same = DriftDetector().detect_data_drift(np.random.default_rng(0).normal(size=5000),
                                             np.random.default_rng(1).normal(size=5000))
    assert same.message == "No drift detected"
    # 3. "Retraining job failed"
    learner = ContinuousLearner(config=seed_config(), registry=registry,
                                retrainer=FakeRetrainer(registry, fail=True))
    learner.trigger_retraining("vision_encoder", None, "manual")
    with caplog.at_level(logging.WARNING):
        learner.poll_retraining("vision_encoder")
    assert "Retraining job failed" in caplog.text
