"""Learner fixtures: a manual clock, three in-process sidecars, a registry, a wired learner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.notify import RecordingNotifier
from learner.registry import ModelRegistry
from tests.learner.simulation import FakeRetrainer


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def fleet(clock: ManualClock) -> LocalFleet:
    return LocalFleet.with_sidecars(3, clock=clock)


@pytest.fixture
def registry(tmp_path: Path, clock: ManualClock) -> Iterator[ModelRegistry]:
    with ModelRegistry(tmp_path / "registry", clock=clock, actor="tests") as reg:
        yield reg


@pytest.fixture
def notifier() -> RecordingNotifier:
    return RecordingNotifier()


@pytest.fixture
def learner(registry: ModelRegistry, fleet: LocalFleet, clock: ManualClock,
            notifier: RecordingNotifier) -> ContinuousLearner:
    config = LearningConfig(model_types=("vision_encoder",))
    return ContinuousLearner(config, registry=registry, fleet=fleet,
                             retrainer=FakeRetrainer(registry), notifier=notifier,
                             clock=clock, sleeper=clock.sleep)
