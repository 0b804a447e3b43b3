"""``collect_report`` over a real learner (in-process sidecars, manual clock): the features'
reference vs current distributions, no near-empty last window, rollback and retrain rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import statcore

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.events import EventKind
from learner.registry import ModelRegistry
from learner.report.collect import collect_report
from tests.learner.simulation import FEATURES, HOUR, FakeRetrainer, feed_hour, reference_rows, tiny_model

MODEL = "invoices"


def _learner(tmp_path: Path, fleet: LocalFleet, clock: ManualClock) -> ContinuousLearner:
    registry = ModelRegistry(tmp_path / "registry", clock=clock)
    for seed in range(2):
        registry.register_model(tiny_model(seed), MODEL, MODEL, {"accuracy": 0.85})
    registry.promote_to_champion(f"{MODEL}_1.0.0", reason="initial")
    registry.promote_to_champion(f"{MODEL}_1.0.1", reason="better")
    # the same reference data every time (a file would be): one layout across re-baselines
    return ContinuousLearner(LearningConfig(model_types=(MODEL,)), registry=registry, fleet=fleet,
                             retrainer=FakeRetrainer(registry),
                             reference_data=lambda t, m: reference_rows(np.random.default_rng(4)),
                             clock=clock, sleeper=clock.sleep)


def _few_labels(fleet: LocalFleet, start_s: float, model_id: str) -> None:
    """A closed window whose labels have mostly not arrived yet (3 of 400, all wrong)."""
    side = fleet.sidecar(fleet.sidecars()[0])
    layout = side.layout(MODEL)
    agg = statcore.Aggregate(layout, MODEL, model_id, int(start_s * 1000), int(start_s * 1000) + 3_600_000)
    n = 400
    agg.update(numeric=np.ascontiguousarray(np.random.default_rng(1).standard_normal((n, len(FEATURES)))),
               confidence=np.full(n, 0.9), latency_ms=np.full(n, 20.0), error=np.zeros(n, np.uint8),
               labelled=(np.arange(n) < 3).astype(np.uint8), correct=np.zeros(n, np.uint8))
    side.add_window(agg)


def test_report_from_a_running_learner(tmp_path: Path) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(2, clock=clock)
    learner = _learner(tmp_path, fleet, clock)
    rng = np.random.default_rng(9)
    t0 = clock()
    learner.scheduler.every("traffic", HOUR, lambda: feed_hour(
        fleet, MODEL, clock() - HOUR, 400, rng, {f"{MODEL}_1.0.1": 0.9},
        shift=0.0 if clock() < t0 + 4 * HOUR else 1.0))
    learner.start_continuous_learning(until=t0 + 10 * HOUR)
    learner.rollback(MODEL, "drill")
    clock.sleep(HOUR)
    _few_labels(fleet, clock() - HOUR, f"{MODEL}_1.0.1")
    learner.collector.refresh()
    report = collect_report(learner, MODEL, t0, clock() + 1, drift_threshold=0.25)

    # Per feature: the champion's reference against the period, over the baseline's bins.
    assert {f.feature for f in report.features} == set(FEATURES)
    amount = next(f for f in report.features if f.feature == "amount")
    assert amount.reference_count == 20_000 and amount.current_count > 0
    assert abs(sum(amount.reference) - 1) < 1e-3 and abs(sum(amount.current) - 1) < 1e-3
    assert amount.psi is not None and amount.current_mean > amount.reference_mean + 0.3
    # The window with 3 labels (accuracy 0.0) is not plotted.
    (quality,) = [q for q in report.quality if q.model_id == f"{MODEL}_1.0.1"]
    assert min(quality.accuracy) > 0.5 and quality.timestamps[-1] < clock() - HOUR
    # The rollback names the model it rolled back; a retrain row has no job id as its model.
    (rollback,) = [e for e in report.events if e.kind is EventKind.ROLLBACK]
    assert (rollback.model_id, rollback.previous_model_id) == (f"{MODEL}_1.0.0", f"{MODEL}_1.0.1")
    assert all(e.model_id == "" for e in report.events if e.kind is EventKind.RETRAINING)
    learner.close()
