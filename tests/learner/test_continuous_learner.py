"""The loop end to end, in process, over three sidecars and simulated weeks (manual clock).

Drift is detected at the next check with enough samples, retraining yields a challenger and an
A/B test, the test ends in a promotion, an injected degradation triggers an automatic rollback
at the daily health check, every sidecar routes to the restored champion, and a sidecar that
was down during the push converges once it is back.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.notify import EventKind, RecordingNotifier
from learner.registry import ModelRegistry
from tests.learner.simulation import HOUR, FakeRetrainer, feed_hour, reference_rows, tiny_model

MODEL = "vision_encoder"


class World:
    """Traffic and model quality as the simulated production sees them."""

    def __init__(self, learner: ContinuousLearner, fleet: LocalFleet, clock: ManualClock) -> None:
        self.learner, self.fleet, self.clock = learner, fleet, clock
        self.rng = np.random.default_rng(5)
        self.shift = 0.0
        self.quality: dict[str, float] = {"vision_encoder_1.0.0": 0.85}
        self.new_model_quality = 0.86

    def reference(self, model_type: str, model_id: str) -> dict[str, np.ndarray]:
        rows = reference_rows(self.rng)
        rows["amount"] = rows["amount"] + self.shift
        return rows

    def accuracy(self) -> dict[str, Any]:
        return {m.id: self.quality.get(m.id, self.new_model_quality)
                for m in self.learner.registry.list_models(MODEL)}

    def traffic(self) -> None:
        feed_hour(self.fleet, MODEL, self.clock() - HOUR, 420, self.rng, self.accuracy(), shift=self.shift)


def test_drift_retrain_ab_promote_degrade_rollback_converge(tmp_path: Path) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(3, clock=clock)
    notifier = RecordingNotifier()
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    original = registry.register_model(tiny_model(0), MODEL, MODEL, {"accuracy": 0.85})
    registry.promote_to_champion(original, reason="initial deployment", metrics={"accuracy": 0.85})
    world_ref: list[World] = []
    learner = ContinuousLearner(
        LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
        retrainer=FakeRetrainer(registry), notifier=notifier, clock=clock, sleeper=clock.sleep,
        reference_data=lambda t, m: world_ref[0].reference(t, m))
    world = World(learner, fleet, clock)
    world_ref.append(world)
    t0 = clock()
    learner.scheduler.every("traffic", HOUR, world.traffic)

    # 12 stationary hours: no drift
    learner.start_continuous_learning(until=t0 + 12 * HOUR)
    assert learner.counters["drift_detected_count"] == 0

    # the documents change; the champion suffers
    world.shift, world.quality[original] = 0.6, 0.80
    learner.start_continuous_learning(until=t0 + 15 * HOUR)
    assert learner.counters["drift_detected_count"] >= 1
    assert learner.counters["retraining_triggered"] == 1 and learner.counters["ab_tests_created"] == 1
    challenger = registry.get_challenger(MODEL)["id"]  # type: ignore[index]
    assert {fleet.sidecar(s).router.table.routes[MODEL].challenger for s in fleet.sidecars()} == {challenger}

    # the A/B test (mSPRT, looked at every 6 h) promotes the better challenger
    learner.start_continuous_learning(until=t0 + 8 * 86400)
    assert learner.counters["promotions"] == 1
    assert registry.get_champion(MODEL)["id"] == challenger  # type: ignore[index]
    assert all(fleet.route(MODEL, f"doc-{i}") == challenger for i in range(20))

    # an injected degradation while one sidecar is down: the daily health check rolls back
    fleet.sidecar("sidecar-2").up = False
    world.quality[challenger] = 0.70
    learner.start_continuous_learning(until=t0 + 10 * 86400)
    assert learner.counters["rollbacks"] == 1
    assert registry.get_champion(MODEL)["id"] == original  # type: ignore[index]
    for name in ("sidecar-0", "sidecar-1"):
        assert fleet.sidecar(name).router.route(MODEL, "doc-1") == original
    assert fleet.sidecar("sidecar-2").router.route(MODEL, "doc-1") == challenger  # missed the push
    assert learner.get_statistics()["stale_sidecars"] == ["sidecar-2"]

    # it comes back and converges at the next tick
    fleet.sidecar("sidecar-2").up = True
    learner.start_continuous_learning(until=clock() + HOUR)
    assert all(fleet.sidecar(s).router.route(MODEL, f"doc-{i}") == original
               for s in fleet.sidecars() for i in range(20))
    generations = {fleet.sidecar(s).router.generation for s in fleet.sidecars()}
    assert generations == {learner.routing_generation}
    kinds = {n.kind for n in notifier.sent}
    assert {EventKind.DRIFT, EventKind.RETRAINING, EventKind.PROMOTION, EventKind.ROLLBACK} <= kinds
    history = registry.get_promotion_history(MODEL)
    assert any(e.reason.startswith("health") for e in history)
    registry.close()
