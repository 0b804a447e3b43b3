"""LearningConfig: seed defaults, validation reporting every error, enums, TOML mapping."""

from __future__ import annotations

import pytest

from learner import LearningConfig, TestMethod
from learner.errors import InvalidLearningConfigError


def test_all_errors_at_once() -> None:
    with pytest.raises(InvalidLearningConfigError) as info:
        LearningConfig(drift_threshold_psi=0, ab_test_significance_level=2, ab_test_method="bayes",
                       drift_min_samples=0)
    text = str(info.value)
    for name in ("drift_threshold_psi", "ab_test_significance_level", "ab_test_method", "drift_min_samples"):
        assert name in text


def test_from_mapping_and_enum_coercion() -> None:
    config = LearningConfig.from_mapping({"ab_test_method": "z_test", "model_types": ["a"]})
    assert config.ab_test_method is TestMethod.Z_TEST and config.model_types == ("a",)
    with pytest.raises(InvalidLearningConfigError, match="unknown"):
        LearningConfig.from_mapping({"nope": 1})


def test_frozen() -> None:
    with pytest.raises(AttributeError):
        LearningConfig().lora_rank = 4  # type: ignore[misc]


def test_from_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "learner.toml"
    path.write_text('[learning]\ndrift_threshold_psi = 0.3\nab_test_method = "z_test"\n'
                    'model_types = ["vision_encoder"]\n')
    config = LearningConfig.from_toml(path)
    assert config.drift_threshold_psi == 0.3 and config.ab_test_method is TestMethod.Z_TEST
    path.write_text("[learning]\nlora_rank = 0\nab_test_traffic_split = 2.0\n")
    with pytest.raises(InvalidLearningConfigError, match="lora_rank.*ab_test_traffic_split"):
        LearningConfig.from_toml(path)


def test_use_lora_false_is_refused_not_ignored() -> None:
    with pytest.raises(InvalidLearningConfigError, match="use_lora must be true"):
        LearningConfig(use_lora=False)


def test_every_policy_knob_reaches_its_policy() -> None:
    """Each key of ``[learning]`` that a decision rule reads arrives in its typed policy."""
    from learner.config import ImprovementKind
    c = LearningConfig(
        drift_threshold_psi=0.31, drift_ks_threshold=0.12, drift_fdr_q=0.002, drift_min_samples=321,
        drift_psi_bins=12, performance_degradation_threshold=0.07, min_labelled_for_concept_drift=222,
        health_min_labelled=111, health_max_error_rate=0.09, health_latency_p99_ms=250.0,
        health_significance=0.004, ab_test_method="z_test", ab_test_significance_level=0.01,
        ab_test_min_samples=77, srm_threshold=0.002, msprt_tau=0.03, min_improvement_threshold=0.03,
        max_degradation_threshold=0.02, improvement_kind="relative", latency_tolerance=0.2,
        critical_error_rate=0.08, enable_auto_retraining=False, enable_auto_promotion=False,
        enable_auto_rollback=False, ab_test_traffic_split=0.2)
    d = c.drift_policy()
    assert (d.psi_threshold, d.ks_threshold, d.fdr_q, d.min_samples, d.psi_bins, d.accuracy_drop,
            d.min_labelled) == (0.31, 0.12, 0.002, 321, 12, 0.07, 222)
    h = c.health_policy()
    assert (h.degradation, h.min_labelled, h.max_error_rate, h.latency_p99_ms, h.q) == \
        (0.07, 111, 0.09, 250.0, 0.004)
    a = c.ab_policy()
    assert (a.method, a.alpha, a.min_samples, a.srm_threshold, a.tau) == (TestMethod.Z_TEST, 0.01, 77, 0.002, 0.03)
    p = c.promotion_policy()
    assert (p.min_improvement, p.max_degradation, p.improvement_kind, p.latency_tolerance,
            p.critical_error_rate) == (0.03, 0.02, ImprovementKind.RELATIVE, 0.2, 0.08)
    loop = c.loop_policy()
    assert (loop.auto_retrain, loop.auto_promote, loop.auto_rollback, loop.traffic_split) == \
        (False, False, False, 0.2)


def test_a_drift_detector_keeps_its_policy_unless_told_otherwise() -> None:
    from learner.drift import DriftDetector, DriftPolicy
    assert DriftDetector(policy=DriftPolicy(psi_threshold=0.5)).policy.psi_threshold == 0.5
    assert DriftDetector(0.3, policy=DriftPolicy(psi_threshold=0.5)).policy.psi_threshold == 0.3
    assert DriftDetector().policy.psi_threshold == 0.25


def test_policy_knobs_load_from_toml(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "learner.toml"
    path.write_text("[learning]\nlatency_tolerance = 0.25\ncritical_error_rate = 0.02\n")
    policy = LearningConfig.from_toml(path).promotion_policy()
    assert policy.latency_tolerance == 0.25 and policy.critical_error_rate == 0.02
