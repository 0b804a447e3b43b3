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
