"""The executor over in-process sidecars: generations never go backwards, refusals make the plan
adopt a higher generation, incomplete pushes are events, metrics and CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import statcore
from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.events import EventKind
from tests.learner.conftest import TestDatabase
from tests.learner.simulation import tiny_model

MODEL = "clf"


def learner_with(tmp_path: Path, fleet: LocalFleet, clock: ManualClock,
                 database: TestDatabase) -> ContinuousLearner:
    registry = database.registry(tmp_path / "registry", clock=clock)
    if registry.get_champion(MODEL) is None:
        for seed in range(3):
            registry.register_model(tiny_model(seed), MODEL, MODEL, {"accuracy": 0.9})
        registry.promote_to_champion("clf_1.0.0", reason="initial")
    learner = ContinuousLearner(LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
                                clock=clock, sleeper=clock.sleep)
    learner.resume()
    return learner


def test_a_sidecar_ahead_makes_the_learner_continue_above_it(tmp_path: Path,
                                                             test_database: TestDatabase) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(3, clock=clock)
    learner = learner_with(tmp_path, fleet, clock, test_database)
    assert learner.routing_generation == 1
    # A sidecar holds generation 50 (left by an older learner database, say).
    fleet.sidecar("sidecar-1").swap(statcore.RoutingTable(50, {MODEL: statcore.Route("clf_1.0.0")}), 0)
    out = learner.promote("clf_1.0.1", "hotfix")
    assert out["generation"] == 51 and out["refused"] == [] and len(out["applied"]) == 3
    assert {fleet.sidecar(s).router.route(MODEL, "k") for s in fleet.sidecars()} == {"clf_1.0.1"}
    # The generation is durable: a new learner on the same database continues above it.
    learner.close()
    again = learner_with(tmp_path, fleet, clock, test_database)
    assert again.routing_generation == 51
    assert again.promote("clf_1.0.2", "next")["generation"] == 52
    again.close()


def test_a_missed_push_is_an_event_a_metric_and_reconciled(tmp_path: Path,
                                                           test_database: TestDatabase) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(3, clock=clock)
    learner = learner_with(tmp_path, fleet, clock, test_database)
    fleet.sidecar("sidecar-2").up = False
    out = learner.promote("clf_1.0.1", "hotfix")
    assert out["missed"] == ["sidecar-2"]
    routing = [e for e in learner.events.after(0) if e.kind is EventKind.ROUTING]
    assert len(routing) == 1 and routing[0].details["missed"] == ["sidecar-2"]
    assert learner.metrics.registry.get_sample_value(
        "loopwise_learner_incomplete_pushes_total", {"kind": "routing"}) == 1.0
    fleet.sidecar("sidecar-2").up = True
    learner.run_learning_cycle(MODEL)  # the tick's resync re-pushes where a table differs
    assert fleet.sidecar("sidecar-2").router.generation == learner.routing_generation
    learner.close()
