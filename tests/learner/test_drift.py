"""Drift: pure rule pieces against references (statsmodels' BH), guards, aggregates path."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

import statcore
from learner.drift import (
    DriftDetector,
    DriftPolicy,
    DriftSeverity,
    DriftType,
    FeatureStats,
    aggregate_feature_stats,
    benjamini_hochberg,
    concept_drift,
    decide,
)
from learner.errors import InvalidInputError


def test_bh_matches_statsmodels() -> None:
    p = np.random.default_rng(0).uniform(size=40) ** 3
    expected = multipletests(p, method="fdr_bh")[1]
    np.testing.assert_allclose(benjamini_hochberg(p), expected)


def test_alarm_psi_is_not_inflated_on_small_stationary_windows() -> None:
    rng = np.random.default_rng(1)
    layout = statcore.Layout.from_baseline([("x", rng.normal(size=50_000))])
    ref = statcore.Aggregate(layout, "t", "m", 0, 0)
    ref.update(numeric=rng.normal(size=(50_000, 1)), confidence=np.ones(50_000), latency_ms=np.ones(50_000))
    small = statcore.Aggregate(layout, "t", "m", 0, 0)
    small.update(numeric=rng.normal(size=(500, 1)), confidence=np.ones(500), latency_ms=np.ones(500))
    (stats,) = aggregate_feature_stats(ref, small, DriftPolicy())
    assert stats.psi < 0.1
    (fine,) = statcore.feature_drift(ref, small, psi_groups=0)
    assert fine.psi > 0.5


def test_small_windows_never_alarm() -> None:
    f = FeatureStats("x", psi=3.0, ks_statistic=0.9, ks_pvalue=1e-30, wasserstein=2.0,
                     reference_n=10_000, current_n=100)
    report = decide([f], DriftPolicy())
    assert not report.drift_detected and not report.sufficient_samples
    assert report.severity is DriftSeverity.NONE


def test_ks_needs_both_effect_size_and_significance() -> None:
    big_n_tiny_effect = FeatureStats("x", 0.01, 0.05, 1e-20, 0.0, 10_000, 10_000)
    big_effect_noise = FeatureStats("y", 0.01, 0.2, 0.01, 0.0, 10_000, 600)
    report = decide([big_n_tiny_effect, big_effect_noise], DriftPolicy())
    assert not report.drift_detected
    real = FeatureStats("z", 0.3, 0.25, 1e-12, 0.4, 10_000, 1000)
    report = decide([big_n_tiny_effect, real], DriftPolicy())
    assert report.drift_types == (DriftType.DATA, DriftType.FEATURE)
    assert report.severity is DriftSeverity.MEDIUM


def test_concept_drift_and_severity() -> None:
    policy = DriftPolicy()
    assert not concept_drift(0.85, 810, 1000, policy).drifted  # 4 points: below the 5-point rule
    result = concept_drift(0.85, 780, 1000, policy)
    assert result.drifted and result.sufficient
    critical = concept_drift(0.85, 700, 1000, policy)
    report = decide([], policy, critical)
    assert report.severity is DriftSeverity.CRITICAL and report.drift_types == (DriftType.CONCEPT,)


def test_aggregates_and_raw_arrays_agree() -> None:
    rng = np.random.default_rng(2)
    base, cur = rng.normal(size=(5000, 2)), rng.normal(size=(3000, 2))
    cur[:, 1] += 0.5
    detector = DriftDetector()
    raw = detector.detect_data_drift(base, cur, feature_names=["a", "b"])
    ref_agg, cur_agg = detector.aggregates_from_raw(base, cur, ["a", "b"])
    agg = detector.detect_data_drift(ref_agg, cur_agg)
    assert raw.features == agg.features
    assert agg.features["b"].drifted and not agg.features["a"].drifted
    assert agg.to_dict()["features"]["b"]["drifted"]


def test_bad_input_raises() -> None:
    with pytest.raises(InvalidInputError):
        DriftDetector(psi_threshold=-1)
    with pytest.raises(InvalidInputError):
        DriftDetector().detect_data_drift({"a": [1.0, 2.0]}, {"b": [1.0, 2.0]})
