"""The loop store: state, routing, tests, drift checks and schedule in the registry's database,
with the database enforcing its invariants."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import statcore
from learner.abtest import ABTest, ABTestStatus, SequentialState
from learner.loop.state import ModelLoopState, Phase
from learner.loop.store import DriftPoint, LoopStore
from learner.db import Constraint, ConstraintViolation
from tests.learner.conftest import TestDatabase


@pytest.fixture
def store(tmp_path: Path, test_database: TestDatabase) -> Iterator[LoopStore]:
    registry = test_database.registry(tmp_path / "registry", clock=lambda: 10.0)
    store = LoopStore.of_registry(registry, lambda: 10.0)
    yield store
    store.close()
    registry.close()


def test_state_round_trips_and_defaults(store: LoopStore) -> None:
    assert store.state("clf") == ModelLoopState("clf")
    state = ModelLoopState("clf", Phase.RETRAINING, drift_cursor_ms=5, pending_jobs=("j1",), in_drift=True)
    with store.write() as tx:
        store.save_state(tx, state)
    assert store.state("clf") == state and store.states() == {"clf": state}


def test_routing_generation_only_grows(store: LoopStore) -> None:
    table = statcore.RoutingTable(3, {"clf": statcore.Route("a", "b", 0.2, "s")})
    with store.write() as tx:
        store.save_routing(tx, table)
    back = store.routing()
    assert back is not None and back.generation == 3 and back.routes["clf"].challenger == "b"
    assert back.routes["clf"].salt == "s" and back.routes["clf"].challenger_share == 0.2
    with pytest.raises(ConstraintViolation, match="must grow") as info:
        with store.write() as tx:
            store.save_routing(tx, statcore.RoutingTable(3, {"clf": statcore.Route("c")}))
    assert info.value.constraint is Constraint.TRIGGER
    assert store.routing().routes["clf"].champion == "a"  # type: ignore[union-attr]


def test_one_running_test_per_type_and_sequential_state_kept(store: LoopStore) -> None:
    seq = SequentialState().look(80, 100, 95, 100, alpha=0.05, tau=0.05)
    store.put_test(ABTest("ab_clf_0001", "clf", "a", "b", 0.1, 5, 2, sequential=seq))
    assert store.get_test("ab_clf_0001").sequential == seq  # type: ignore[union-attr]
    assert store.next_test_id("clf") == "ab_clf_0002"
    with pytest.raises(ConstraintViolation) as info:
        store.put_test(ABTest("ab_clf_0002", "clf", "a", "c", 0.1, 6, 3))
    assert info.value.constraint is Constraint.UNIQUE
    store.put_test(ABTest("ab_clf_0001", "clf", "a", "b", 0.1, 5, 2, ABTestStatus.STOPPED, seq, None, 9.0))
    store.put_test(ABTest("ab_clf_0002", "clf", "a", "c", 0.1, 6, 3))
    assert [t.status for t in store.all_tests()] == [ABTestStatus.STOPPED, ABTestStatus.RUNNING]


def test_drift_checks_and_schedule(store: LoopStore) -> None:
    with store.write() as tx:
        store.append_drift_check(tx, 5.0, "clf", "m", True, {"x": DriftPoint(0.4, 0.2)})
    (check,) = store.drift_checks("clf")
    assert check.drift_detected and check.features["x"] == DriftPoint(0.4, 0.2)
    assert store.drift_checks("clf", since=6.0) == ()
    store.mark_run("health", 100.0)
    store.mark_run("health", 200.0)
    assert store.schedule() == {"health": 200.0}
