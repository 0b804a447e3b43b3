"""A/B tests on the sidecars' counts: split pushed, SRM blocks, methods, stickiness."""

from __future__ import annotations

import pytest

from learner import ABTestingManager, LocalFleet, ManualClock, Recommendation, Winner
from learner.abtest import ABPolicy, ArmStats, decide_winner, model_type_of
from learner.config import TestMethod
from learner.errors import InvalidInputError, UnknownTestError


def manager(sidecars: int = 3) -> ABTestingManager:
    clock = ManualClock()
    return ABTestingManager(fleet=LocalFleet.with_sidecars(sidecars, clock=clock), clock=clock)


def test_split_is_pushed_to_every_sidecar_and_sticky() -> None:
    ab = manager()
    test_id = ab.create_ab_test("clf_1.0.0", "clf_1.0.1", 0.1)
    fleet = ab.fleet
    assert isinstance(fleet, LocalFleet)
    for name in fleet.sidecars():
        route = fleet.sidecar(name).router.table.routes["clf"]
        assert (route.champion, route.challenger, route.challenger_share) == ("clf_1.0.0", "clf_1.0.1", 0.1)
    served = [ab.route_prediction(test_id, f"doc-{i}") for i in range(5000)]
    assert 0.08 < served.count("clf_1.0.1") / 5000 < 0.12
    assert served[:50] == [ab.route_prediction(test_id, f"doc-{i}") for i in range(50)]


def test_sample_ratio_mismatch_blocks() -> None:
    champion = ArmStats("a", records=9000, labelled=9000, correct=7650)
    challenger = ArmStats("b", records=3000, labelled=3000, correct=2700)
    winner, rec, message = decide_winner(champion, challenger, None, 1e-9, ABPolicy())
    assert (winner, rec) == (Winner.INCONCLUSIVE, Recommendation.INVESTIGATE_SAMPLE_RATIO)
    assert message.startswith("Sample ratio mismatch")


def test_evaluation_counts_only_traffic_after_the_test_started() -> None:
    ab = manager(1)
    first = ab.create_ab_test("clf_1.0.0", "clf_1.0.1", 0.5)
    for i in range(50):
        ab.record_prediction(first, ab.route_prediction(first, f"d{i}"), f"d{i}", 1, 1, 10.0)
    second = ab.create_ab_test("clf_1.0.0", "clf_1.0.2", 0.5)
    assert ab.get_test(first).status.value == "stopped"
    result = ab.evaluate_ab_test(second, min_samples=1)
    assert result.champion.records == 0 and result.challenger.records == 0


def test_methods_and_errors() -> None:
    ab = manager(1)
    test_id = ab.create_ab_test("clf_1.0.0", "clf_1.0.1", 0.5)
    for i in range(400):
        model = ab.route_prediction(test_id, f"d{i}")
        correct = (i % 10) < (9 if model.endswith("1") else 6)
        ab.record_prediction(test_id, model, f"d{i}", {"x": 1}, {"x": 1 if correct else 2}, 20.0)
    seq = ab.evaluate_ab_test(test_id, min_samples=100)
    z = ab.evaluate_ab_test(test_id, min_samples=100, method="z_test")
    assert seq.method is TestMethod.SEQUENTIAL and z.method is TestMethod.Z_TEST
    assert seq.winner is Winner.CHALLENGER and z.winner is Winner.CHALLENGER
    assert z.p_value is not None and seq.p_value is not None and z.p_value < seq.p_value
    with pytest.raises(UnknownTestError):
        ab.evaluate_ab_test("nope")
    with pytest.raises(InvalidInputError):
        ab.record_prediction(test_id, "someone_else", "d", 1, 1, 1.0)
    with pytest.raises(InvalidInputError):
        ab.create_ab_test("a", "b", 1.0)
    with pytest.raises(ValueError):
        ab.evaluate_ab_test(test_id, method="bayes")


def test_model_type_of() -> None:
    assert model_type_of("vision_encoder_1.0.1") == "vision_encoder"
    assert model_type_of("model_v1") == "model_v1"
