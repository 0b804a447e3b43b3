"""Loopwise learner: the continuous-learning control loop and its model registry.

>>> from learner import ContinuousLearner, LearningConfig, DriftDetector, ABTestingManager, ChampionPromoter
"""

from learner.abtest import ABTestingManager, ABTestResult, Recommendation, Winner
from learner.config import ImprovementKind, LearningConfig, TestMethod
from learner.continuous_learner import ContinuousLearner
from learner.drift import DriftDetector, DriftReport, DriftSeverity, DriftType
from learner.fleet import Baseline, Fleet, LocalFleet, WindowCollector
from learner.health import HealthSeverity
from learner.promotion import ChampionPromoter, PromotionPolicy
from learner.registry import ModelRegistry, ModelVersion
from learner.retrainer import Retrainer, RetrainState, RetrainStatus
from learner.scheduler import IntervalScheduler, ManualClock

__all__ = [
    "ABTestResult",
    "ABTestingManager",
    "Baseline",
    "ChampionPromoter",
    "ContinuousLearner",
    "DriftDetector",
    "DriftReport",
    "DriftSeverity",
    "DriftType",
    "Fleet",
    "HealthSeverity",
    "ImprovementKind",
    "IntervalScheduler",
    "LearningConfig",
    "LocalFleet",
    "ManualClock",
    "ModelRegistry",
    "ModelVersion",
    "PromotionPolicy",
    "Recommendation",
    "RetrainState",
    "RetrainStatus",
    "Retrainer",
    "TestMethod",
    "WindowCollector",
    "Winner",
]
