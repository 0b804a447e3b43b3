"""The seed's Simulation Tests example, with our import paths."""

from __future__ import annotations

from learner import ContinuousLearner
from tests.learner.simulation import DriftSimulator, shift_for_psi


def test_seed_simulation_example(learner: ContinuousLearner) -> None:
    sim = DriftSimulator(learner)
    sim.inject_drift(psi=0.35)
    sim.run_cycle()

    assert sim.retraining_triggered
    assert sim.drift_detected


def test_no_drift_no_retraining(learner: ContinuousLearner) -> None:
    sim = DriftSimulator(learner)
    for _ in range(3):
        sim.run_cycle()
    assert not sim.drift_detected and not sim.retraining_triggered


def test_drift_creates_a_challenger_and_an_ab_test(learner: ContinuousLearner) -> None:
    sim = DriftSimulator(learner)
    sim.inject_drift(psi=0.35)
    result = sim.run_cycle()
    assert result["ab_test_created"] is not None
    assert learner.registry.get_challenger("vision_encoder") is not None
    assert learner.get_statistics()["ab_tests_created"] == 1


def test_shift_for_psi_is_about_the_square_root() -> None:
    assert 0.55 < shift_for_psi(0.35) < 0.7
