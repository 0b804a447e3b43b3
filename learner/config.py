"""The learner's configuration: the seed's ``LearningConfig`` plus the loop's intervals and guards.

Every field of the seed keeps its name and default. Validation runs in ``__post_init__`` and
reports every invalid field at once in one :class:`InvalidLearningConfigError`.

>>> LearningConfig().drift_check_interval_s, LearningConfig().ab_test_method
(3600.0, <TestMethod.SEQUENTIAL: 'sequential'>)
>>> LearningConfig(ab_test_traffic_split=1.5, lora_rank=0)
Traceback (most recent call last):
...
learner.errors.InvalidLearningConfigError: invalid LearningConfig: lora_rank must be >= 1 (got 0); ab_test_traffic_split must be in (0, 1) (got 1.5)
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from learner.errors import InvalidLearningConfigError
from learner.named_enum import NamedEnum

if TYPE_CHECKING:
    from learner.abtest import ABPolicy
    from learner.drift import DriftPolicy
    from learner.health import HealthPolicy
    from learner.loop.decide import LoopPolicy
    from learner.promotion import PromotionPolicy

__all__ = ["LearningConfig", "TestMethod", "ImprovementKind"]


class TestMethod(NamedEnum):
    """How an A/B test decides.

    ``SEQUENTIAL`` (default): statcore's mixture sequential probability ratio test, whose
    always-valid p-value keeps the false-promotion rate at or below the significance level
    however often the test is evaluated. ``Z_TEST``: the seed's fixed-horizon two-proportion
    z-test, valid only when evaluated once at a horizon fixed in advance; evaluated every
    6 hours it promotes a no-better challenger far more often than the significance level
    (the "peeking" problem, measured in ``tests/learner/test_abtest_simulation.py``).
    """

    __test__ = False  # not a pytest test class despite the name

    SEQUENTIAL = "sequential"
    Z_TEST = "z_test"



class ImprovementKind(NamedEnum):
    """Whether ``min_improvement`` is in absolute points (0.02 = 2 points) or relative (2 %)."""

    ABSOLUTE = "absolute"
    RELATIVE = "relative"


def _meta(help_text: str) -> dict[str, str]:
    return {"help": help_text}


@dataclass(frozen=True)
class LearningConfig:
    """Configuration of the continuous-learning loop (seed fields first, same names/defaults)."""

    # Drift detection (seed)
    drift_threshold_psi: float = field(default=0.25, metadata=_meta("PSI alarm threshold (10 coarse bins)"))
    performance_degradation_threshold: float = field(
        default=0.05, metadata=_meta("absolute accuracy drop that counts as concept drift"))
    # Data collection (seed)
    min_feedback_samples: int = field(default=1000, metadata=_meta("min samples for retraining"))
    training_lookback_days: int = field(default=30, metadata=_meta("training data lookback"))
    min_pseudo_label_confidence: float = field(default=0.9, metadata=_meta("pseudo-label threshold"))
    # LoRA (seed)
    use_lora: bool = field(default=True, metadata=_meta("retrain LoRA adapters (the only mode; false is refused)"))
    lora_rank: int = field(default=16, metadata=_meta("LoRA rank r"))
    lora_alpha: int = field(default=32, metadata=_meta("LoRA scaling alpha"))
    lora_dropout: float = field(default=0.1, metadata=_meta("dropout on the LoRA path"))
    # A/B testing (seed)
    ab_test_traffic_split: float = field(default=0.1, metadata=_meta("share of traffic to the challenger"))
    ab_test_min_samples: int = field(default=1000, metadata=_meta("min labelled samples per arm"))
    ab_test_significance_level: float = field(default=0.05, metadata=_meta("alpha of the A/B test"))
    # Promotion criteria (seed)
    min_improvement_threshold: float = field(default=0.02, metadata=_meta("required improvement"))
    max_degradation_threshold: float = field(default=0.01, metadata=_meta("allowed guardrail loss"))
    # Automation (seed)
    enable_auto_retraining: bool = field(default=True, metadata=_meta("retrain when drift is detected"))
    enable_auto_promotion: bool = field(default=True, metadata=_meta("promote an A/B winner"))
    enable_auto_rollback: bool = field(default=True, metadata=_meta("roll back a critical champion"))

    # ---- Loopwise additions ----
    drift_check_interval_s: float = field(default=3600.0, metadata=_meta("drift check period"))
    ab_eval_interval_s: float = field(default=6 * 3600.0, metadata=_meta("A/B evaluation period"))
    health_check_interval_s: float = field(default=86400.0, metadata=_meta("health check period"))
    report_interval_s: float = field(default=7 * 86400.0, metadata=_meta("report period"))
    ab_test_method: TestMethod = field(default=TestMethod.SEQUENTIAL, metadata=_meta(
        "sequential (always valid) or z_test (seed's fixed-horizon test; peeking inflates errors)"))
    msprt_tau: float = field(default=0.05, metadata=_meta("mSPRT mixing standard deviation"))
    srm_threshold: float = field(default=0.001, metadata=_meta("SRM p-value that blocks a decision"))
    improvement_kind: ImprovementKind = field(default=ImprovementKind.ABSOLUTE, metadata=_meta(
        "min_improvement_threshold in absolute points or relative to the champion"))
    drift_min_samples: int = field(default=500, metadata=_meta("records needed before drift can alarm"))
    drift_max_lookback_s: float = field(default=86400.0, metadata=_meta("oldest data in a drift window"))
    drift_ks_threshold: float = field(default=0.1, metadata=_meta("KS statistic for feature drift"))
    drift_fdr_q: float = field(default=0.001, metadata=_meta("Benjamini-Hochberg level across features"))
    drift_psi_bins: int = field(default=10, metadata=_meta("coarse baseline-quantile bins for PSI"))
    min_labelled_for_concept_drift: int = field(default=1000, metadata=_meta(
        "labelled records needed before concept drift can alarm"))
    health_min_labelled: int = field(default=500, metadata=_meta("labels needed for a health verdict"))
    health_latency_p99_ms: float | None = field(default=None, metadata=_meta("p99 latency ceiling"))
    health_max_error_rate: float = field(default=0.05, metadata=_meta("error rate ceiling"))
    health_significance: float = field(default=0.001, metadata=_meta(
        "one-sided p-value an accuracy drop needs to be critical"))
    latency_tolerance: float = field(default=0.10, metadata=_meta(
        "promotion guardrail: challenger p99 latency may exceed the champion's by this fraction"))
    critical_error_rate: float = field(default=0.05, metadata=_meta(
        "promotion guardrail: a challenger with a higher error rate is never promoted"))
    model_types: tuple[str, ...] = field(default=(), metadata=_meta("model types the loop manages"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "ab_test_method", _coerce(TestMethod.parse, self.ab_test_method))
        object.__setattr__(self, "improvement_kind", _coerce(ImprovementKind.parse, self.improvement_kind))
        object.__setattr__(self, "model_types", tuple(self.model_types))
        problems = _problems(self)
        if problems:
            raise InvalidLearningConfigError(
                "invalid LearningConfig: " + "; ".join(f"{k} {m}" for k, m in problems), tuple(problems))

    # ---- typed policies: the one place config values reach the decision rules ----

    def drift_policy(self) -> DriftPolicy:
        from learner.drift import DriftPolicy
        return DriftPolicy(psi_threshold=self.drift_threshold_psi, ks_threshold=self.drift_ks_threshold,
                           fdr_q=self.drift_fdr_q, min_samples=self.drift_min_samples,
                           psi_bins=self.drift_psi_bins, accuracy_drop=self.performance_degradation_threshold,
                           min_labelled=self.min_labelled_for_concept_drift)

    def health_policy(self) -> HealthPolicy:
        from learner.health import HealthPolicy
        return HealthPolicy(degradation=self.performance_degradation_threshold,
                            min_labelled=self.health_min_labelled, max_error_rate=self.health_max_error_rate,
                            latency_p99_ms=self.health_latency_p99_ms, q=self.health_significance)

    def ab_policy(self) -> ABPolicy:
        from learner.abtest import ABPolicy
        return ABPolicy(method=self.ab_test_method, alpha=self.ab_test_significance_level,
                        min_samples=self.ab_test_min_samples, srm_threshold=self.srm_threshold,
                        tau=self.msprt_tau)

    def promotion_policy(self) -> PromotionPolicy:
        from learner.promotion import PromotionPolicy
        return PromotionPolicy(min_improvement=self.min_improvement_threshold,
                               max_degradation=self.max_degradation_threshold,
                               improvement_kind=self.improvement_kind,
                               latency_tolerance=self.latency_tolerance,
                               critical_error_rate=self.critical_error_rate)

    def loop_policy(self) -> LoopPolicy:
        from learner.loop.decide import LoopPolicy
        return LoopPolicy(auto_retrain=self.enable_auto_retraining, auto_promote=self.enable_auto_promotion,
                          auto_rollback=self.enable_auto_rollback, traffic_split=self.ab_test_traffic_split)

    @classmethod
    def from_toml(cls, path: str | Path, section: str = "learning") -> LearningConfig:
        """Load the ``[learning]`` table of a TOML file (unknown keys raise)."""
        with open(path, "rb") as f:
            data = tomllib.load(f)
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise InvalidLearningConfigError(f"[{section}] must be a table")
        return cls.from_mapping(table)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> LearningConfig:
        """Build from a mapping (a parsed TOML table); unknown keys raise."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidLearningConfigError(f"unknown LearningConfig keys: {', '.join(unknown)}",
                                             tuple((k, "unknown key") for k in unknown))
        return cls(**values)


def _coerce(parse: Any, value: Any) -> Any:
    try:
        return parse(value)
    except ValueError:
        return value  # reported by _problems


_OPEN_UNIT = ("ab_test_traffic_split", "ab_test_significance_level", "srm_threshold", "drift_fdr_q",
              "health_significance")
_CLOSED_UNIT = ("performance_degradation_threshold", "min_pseudo_label_confidence", "lora_dropout",
                "min_improvement_threshold", "max_degradation_threshold", "drift_ks_threshold",
                "health_max_error_rate", "latency_tolerance")
_POSITIVE = ("drift_threshold_psi", "drift_check_interval_s", "ab_eval_interval_s",
             "health_check_interval_s", "report_interval_s", "msprt_tau", "drift_max_lookback_s")
_AT_LEAST_ONE = ("min_feedback_samples", "training_lookback_days", "lora_rank", "lora_alpha",
                 "ab_test_min_samples", "drift_min_samples", "min_labelled_for_concept_drift",
                 "health_min_labelled")


def _problems(config: LearningConfig) -> list[tuple[str, str]]:
    """Every problem as ``(field, what is wrong)``."""
    out: list[tuple[str, str]] = []
    for name in (f.name for f in fields(config)):
        value = getattr(config, name)
        if name in _OPEN_UNIT and not (isinstance(value, (int, float)) and 0 < value < 1):
            out.append((name, f"must be in (0, 1) (got {value!r})"))
        elif name in _CLOSED_UNIT and not (isinstance(value, (int, float)) and 0 <= value <= 1):
            out.append((name, f"must be in [0, 1] (got {value!r})"))
        elif name in _POSITIVE and not (isinstance(value, (int, float)) and value > 0):
            out.append((name, f"must be > 0 (got {value!r})"))
        elif name in _AT_LEAST_ONE and not (isinstance(value, int) and value >= 1):
            out.append((name, f"must be >= 1 (got {value!r})"))
    if not isinstance(config.ab_test_method, TestMethod):
        out.append(("ab_test_method", f"must be one of sequential, z_test (got {config.ab_test_method!r})"))
    if not isinstance(config.improvement_kind, ImprovementKind):
        out.append(("improvement_kind", f"must be absolute or relative (got {config.improvement_kind!r})"))
    if not (isinstance(config.drift_psi_bins, int) and 2 <= config.drift_psi_bins <= 100):
        out.append(("drift_psi_bins", f"must be in [2, 100] (got {config.drift_psi_bins!r})"))
    if config.use_lora is not True:
        out.append(("use_lora", "must be true: retraining fine-tunes LoRA adapters only "
                                f"(got {config.use_lora!r})"))
    if not (isinstance(config.critical_error_rate, (int, float)) and 0 < config.critical_error_rate <= 1):
        out.append(("critical_error_rate", f"must be in (0, 1] (got {config.critical_error_rate!r})"))
    p99 = config.health_latency_p99_ms
    if p99 is not None and not (isinstance(p99, (int, float)) and p99 > 0):
        out.append(("health_latency_p99_ms", f"must be > 0 or None (got {p99!r})"))
    return out
