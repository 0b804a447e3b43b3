"""Simulation: the loop's hourly drift check on stationary data and on a real shift.

The real path: hourly closed windows on the sidecars, the collector, and
``ContinuousLearner.check_drift`` (tumbling accumulation to ``drift_min_samples`` records,
coarse PSI, KS + Benjamini-Hochberg) on a :class:`ManualClock`. Three normal features;
the reference holds 20,000 records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.notify import RecordingNotifier
from learner.registry import ModelRegistry
from tests.learner.simulation import HOUR, ensure_champion, feed_hour

MODEL = "doc_classifier"


def build(tmp_path: Path, seed: int) -> tuple[ContinuousLearner, ManualClock, LocalFleet, np.random.Generator]:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(1, clock=clock)
    registry = ModelRegistry(tmp_path / f"registry-{seed}", clock=clock)
    learner = ContinuousLearner(LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
                                notifier=RecordingNotifier(), clock=clock, sleeper=clock.sleep)
    rng = np.random.default_rng(seed)
    ensure_champion(learner, MODEL, rng)
    return learner, clock, fleet, rng


def hour(learner: ContinuousLearner, clock: ManualClock, fleet: LocalFleet, rng: np.random.Generator,
         rate: int, shift: float = 0.0):  # type: ignore[no-untyped-def]
    champion = learner.registry.get_champion(MODEL)["id"]  # type: ignore[index]
    feed_hour(fleet, MODEL, clock(), rate, rng, {champion: 0.85}, shift=shift)
    clock.advance(HOUR)
    learner.collector.refresh()
    return learner.check_drift(MODEL)


@pytest.mark.parametrize(("rate", "runs"), [(100, 10), (10_000, 2)])
def test_stationary_data_rarely_alarms(tmp_path: Path, rate: int, runs: int) -> None:
    alarms = evaluated = 0
    for run in range(runs):
        learner, clock, fleet, rng = build(tmp_path, run)
        for _ in range(30 * 24):
            report = hour(learner, clock, fleet, rng, rate)
            if report is not None and report.sufficient_samples:
                evaluated += 1
                alarms += report.drift_detected
        learner.close()
    per_month = alarms / runs
    print(f"\n{rate}/h: {alarms} false alarms in {runs} x 30 days ({evaluated} evaluated checks): "
          f"{per_month:.2f} per model per 30 days")
    assert per_month <= 1.0


@pytest.mark.parametrize("rate", [100, 10_000])
def test_half_sd_shift_is_caught_at_the_first_check_with_enough_samples(tmp_path: Path, rate: int) -> None:
    for run in range(5):
        learner, clock, fleet, rng = build(tmp_path, 100 + run)
        # stationary until a check has just been evaluated: the next window starts clean
        while True:
            report = hour(learner, clock, fleet, rng, rate)
            if report is not None and report.sufficient_samples:
                assert not report.drift_detected
                break
        while True:
            report = hour(learner, clock, fleet, rng, rate, shift=0.5)
            if report is not None and report.sufficient_samples:
                break
            assert report is None or not report.drift_detected
        assert report.drift_detected, report.to_dict()
        assert report.features["amount"].drifted
        learner.close()
