"""A learner closed and rebuilt on the same database resumes: the running A/B test with its
sequential state, the drift cursor and episode, the schedule, the event stream and the weekly
report's drift, retraining and A/B history are all still there (in process, manual clock)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from learner import ContinuousLearner, LearningConfig, LocalFleet, ManualClock
from learner.abtest import ABTestStatus
from learner.events import EventKind
from learner.loop.state import Phase
from learner.registry import ModelRegistry
from learner.retrainer import Retrainer, RetrainState, RetrainStatus
from learner.report.collect import collect_report
from tests.learner.conftest import TestDatabase
from tests.learner.simulation import HOUR, FakeRetrainer, feed_hour, reference_rows, tiny_model

MODEL = "vision_encoder"
CONFIG = LearningConfig(model_types=(MODEL,), ab_test_min_samples=200, min_improvement_threshold=0.5)


def build(root: Path, fleet: LocalFleet, clock: ManualClock, database: TestDatabase,
          retrainer: Callable[[ModelRegistry], Retrainer] = FakeRetrainer) -> ContinuousLearner:
    registry = database.registry(root, clock=clock)
    if registry.get_champion(MODEL) is None:
        first = registry.register_model(tiny_model(0), MODEL, MODEL, {"accuracy": 0.85})
        registry.promote_to_champion(first, reason="initial deployment", metrics={"accuracy": 0.85})
    rng = np.random.default_rng(4)
    return ContinuousLearner(CONFIG, registry=registry, fleet=fleet, retrainer=retrainer(registry),
                             reference_data=lambda t, m: reference_rows(rng), clock=clock, sleeper=clock.sleep)


def test_a_rebuilt_learner_resumes_where_the_old_one_stopped(tmp_path: Path,
                                                            test_database: TestDatabase) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(2, clock=clock)
    rng = np.random.default_rng(9)
    root = tmp_path / "registry"

    def traffic(learner: ContinuousLearner, shift: float) -> None:
        accuracy = {m.id: 0.85 for m in learner.registry.list_models(MODEL)}
        feed_hour(fleet, MODEL, clock() - HOUR, 400, rng, accuracy, shift=shift)

    learner = build(root, fleet, clock, test_database)
    learner.scheduler.every("traffic", HOUR, lambda: traffic(learner, 0.0 if clock() < t0 + 6 * HOUR else 0.8))
    t0 = clock()
    learner.start_continuous_learning(until=t0 + 20 * HOUR)
    test = learner.running_test(MODEL)
    assert test is not None and test.sequential.looks >= 1  # drift -> retrain -> a test with looks
    events = [(e.seq, e.kind, e.message) for e in learner.events.after(0)]
    kinds = {k for _, k, _ in events}
    assert {EventKind.DRIFT, EventKind.RETRAINING, EventKind.AB_TEST} <= kinds
    generation, looks = learner.routing_generation, test.sequential.looks
    health_last = learner._store.schedule()["health"] if "health" in learner._store.schedule() else None
    learner.close()

    again = build(root, fleet, clock, test_database)
    assert again.routing_generation == generation
    resumed = again.running_test(MODEL)
    assert resumed is not None and resumed.test_id == test.test_id and resumed.sequential == test.sequential
    assert again._store.state(MODEL).phase is Phase.AB_TESTING
    assert [(e.seq, e.kind, e.message) for e in again.events.after(0)] == events
    assert again.counters["ab_tests_created"] == 1 and again.counters["retraining_triggered"] == 1
    again.scheduler.every("traffic", HOUR, lambda: traffic(again, 0.8))
    again.start_continuous_learning(until=clock() + 13 * HOUR)
    later = again.get_test(test.test_id)
    assert later.sequential.looks > looks  # the same sequential test went on
    assert later.status is ABTestStatus.RUNNING and again.routing_generation == generation
    if health_last is not None:  # the daily job kept its clock: not pushed a day past the restart
        due = next(j for j in again.scheduler.jobs if j.name == "health").next_due
        assert due <= health_last + 2 * CONFIG.health_check_interval_s

    report = collect_report(again, MODEL, t0, clock(), drift_threshold=0.25, ab_tests=again.list_tests())
    assert report.drift and any(e.kind is EventKind.DRIFT for e in report.events)
    assert any(e.kind is EventKind.RETRAINING for e in report.events)
    assert [a.challenger_id for a in report.ab_results] == [test.challenger_id]
    again.close()


class SlowRetrainer:
    """Jobs run until ``finish()``; the job table outlives a learner (like the job store)."""

    def __init__(self, registry: ModelRegistry, jobs: dict[str, RetrainStatus]) -> None:
        self.registry, self.jobs = registry, jobs

    def trigger(self, model_type: str, reason: str, statistics: object) -> str:
        job = f"job-{len(self.jobs) + 1}"
        self.jobs[job] = RetrainStatus(job, RetrainState.RUNNING)
        return job

    def finish(self, job: str, model_type: str) -> None:
        model_id = self.registry.register_model(tiny_model(50), model_type, model_type, {"accuracy": 0.9})
        self.jobs[job] = RetrainStatus(job, RetrainState.SUCCEEDED, model_id)

    def poll(self, job_id: str) -> RetrainStatus:
        return self.jobs[job_id]

    def jobs_of(self, model_type: str) -> list[RetrainStatus]:
        return list(self.jobs.values())  # one model type in these tests


def test_a_retraining_job_started_before_a_restart_is_followed_after_it(
        tmp_path: Path, test_database: TestDatabase) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(1, clock=clock)
    rng = np.random.default_rng(5)
    jobs: dict[str, RetrainStatus] = {}
    learner = build(tmp_path / "registry", fleet, clock, test_database, lambda r: SlowRetrainer(r, jobs))
    learner.resume()
    feed_hour(fleet, MODEL, clock(), 2000, rng, {}, shift=1.0)
    clock.advance(HOUR + 1)
    learner.run_learning_cycle(MODEL)
    assert list(jobs) == ["job-1"] and learner._store.state(MODEL).phase is Phase.RETRAINING
    learner.close()

    registry = test_database.registry(tmp_path / "registry", clock=clock)
    retrainer = SlowRetrainer(registry, jobs)
    again = ContinuousLearner(CONFIG, registry=registry, fleet=fleet, retrainer=retrainer,
                              reference_data=lambda t, m: reference_rows(rng), clock=clock, sleeper=clock.sleep)
    assert again._store.state(MODEL).pending_jobs == ("job-1",)
    again.run_learning_cycle(MODEL)
    assert again.running_test(MODEL) is None and list(jobs) == ["job-1"]  # still running: not retriggered
    retrainer.finish("job-1", MODEL)
    again.run_learning_cycle(MODEL)
    test = again.running_test(MODEL)
    assert test is not None and test.challenger_id == jobs["job-1"].model_id
    assert again._store.state(MODEL).phase is Phase.AB_TESTING
    again.close()


class KilledAfterTrigger(SlowRetrainer):
    """The job is committed, then the process dies before the loop records it (kill -9 there)."""

    def trigger(self, model_type: str, reason: str, statistics: object) -> str:
        super().trigger(model_type, reason, statistics)
        raise KeyboardInterrupt("killed between the job's commit and the loop's")


def test_a_job_started_as_the_learner_was_killed_is_adopted_not_lost_or_repeated(
        tmp_path: Path, test_database: TestDatabase) -> None:
    clock = ManualClock()
    fleet = LocalFleet.with_sidecars(1, clock=clock)
    rng = np.random.default_rng(5)
    jobs: dict[str, RetrainStatus] = {}
    learner = build(tmp_path / "registry", fleet, clock, test_database,
                    lambda r: KilledAfterTrigger(r, jobs))
    learner.resume()
    feed_hour(fleet, MODEL, clock(), 2000, rng, {}, shift=1.0)
    clock.advance(HOUR + 1)
    try:
        learner.run_learning_cycle(MODEL)
    except KeyboardInterrupt:
        pass
    assert list(jobs) == ["job-1"] and learner._store.state(MODEL).pending_jobs == ()  # the orphan
    learner.close()

    retrainer_registry = test_database.registry(tmp_path / "registry", clock=clock)
    retrainer = SlowRetrainer(retrainer_registry, jobs)
    again = build(tmp_path / "registry", fleet, clock, test_database, lambda r: retrainer)
    again.resume()
    state = again._store.state(MODEL)
    assert state.pending_jobs == ("job-1",) and state.phase is Phase.RETRAINING
    adopted = [e for e in again.events.after(0) if e.kind is EventKind.RETRAINING]
    assert [(e.details["job_id"], e.details.get("adopted")) for e in adopted] == [("job-1", True)]
    assert again.counters["retraining_triggered"] == 1
    again.run_learning_cycle(MODEL)
    assert list(jobs) == ["job-1"]  # followed, not started again
    retrainer.finish("job-1", MODEL)
    again.run_learning_cycle(MODEL)
    test = again.running_test(MODEL)
    assert test is not None and test.challenger_id == jobs["job-1"].model_id
    again.close()

    retrainer_registry.close()
    third = build(tmp_path / "registry", fleet, clock, test_database, lambda r: SlowRetrainer(r, jobs))
    third.resume()  # the adopted job is on record now: not adopted twice
    assert [e.details.get("job_id") for e in third.events.after(0)
            if e.kind is EventKind.RETRAINING and e.details.get("adopted")] == ["job-1"]
    assert third.running_test(MODEL) is not None and third.running_test(MODEL).test_id == test.test_id
    third.close()
