"""The pure decision step: each observation's rule, on plain values (no servers, no clock)."""

from __future__ import annotations

from learner.abtest import (
    ABTest, ABTestResult, ABTestStatus, ArmStats, Recommendation, Winner,
)
from learner.config import TestMethod
from learner.drift import DriftDetector
from learner.events import EventKind
from learner.health import HealthPolicy, HealthSeverity, assess_health
from learner.loop.decide import (
    ABObserved, DriftObserved, EndTest, HealthObserved, JobsFound, JobsObserved, LoopPolicy, Promote, Rollback,
    StartABTest, StartRetrain, decide,
)
from learner.loop.state import ModelLoopState, Phase
from learner.promotion import PromotionDecision
from learner.retrainer import RetrainState, RetrainStatus

import numpy as np

POLICY = LoopPolicy()


def drift_report(shift: float) -> object:
    rng = np.random.default_rng(1)
    return DriftDetector().detect_data_drift(rng.normal(size=(5000, 2)), rng.normal(size=(5000, 2)) + shift)


def test_drift_alarms_once_per_episode_and_retrains_only_when_monitoring() -> None:
    report = drift_report(1.0)
    first = decide(ModelLoopState("clf"), DriftObserved("clf_1", report, 77), POLICY, 0)  # type: ignore[arg-type]
    assert isinstance(first.action, StartRetrain) and [n.kind for n in first.notes] == [EventKind.DRIFT]
    assert first.state.in_drift and first.state.drift_cursor_ms == 77
    again = decide(first.state, DriftObserved("clf_1", report, 99), POLICY, 0)  # type: ignore[arg-type]
    assert again.notes == () and again.state.drift_cursor_ms == 99  # no second alarm
    testing = ModelLoopState("clf", Phase.AB_TESTING, test_id="t")
    assert decide(testing, DriftObserved("clf_1", report, 1), POLICY, 0).action is None  # type: ignore[arg-type]
    off = LoopPolicy(auto_retrain=False)
    assert decide(ModelLoopState("clf"), DriftObserved("clf_1", report, 1), off, 0).action is None  # type: ignore[arg-type]
    calm = decide(first.state, DriftObserved("clf_1", drift_report(0.0), 5), POLICY, 0)  # type: ignore[arg-type]
    assert not calm.state.in_drift and calm.action is None


def test_a_window_too_small_to_judge_keeps_the_cursor() -> None:
    rng = np.random.default_rng(2)
    small = DriftDetector().detect_data_drift(rng.normal(size=1000), rng.normal(size=10))
    d = decide(ModelLoopState("clf", drift_cursor_ms=5), DriftObserved("m", small, None), POLICY, 0)
    assert d.state.drift_cursor_ms == 5 and d.action is None


def test_finished_jobs_start_a_test_or_go_back_to_monitoring() -> None:
    state = ModelLoopState("clf", Phase.RETRAINING, pending_jobs=("j1", "j2"))
    failed = decide(state, JobsObserved("c", (RetrainStatus("j1", RetrainState.FAILED, None, "oom"),)), POLICY, 0)
    assert failed.action is None and failed.state.pending_jobs == ("j2",)
    assert failed.state.phase is Phase.RETRAINING and "oom" in failed.notes[0].message
    done = decide(failed.state, JobsObserved("c", (RetrainStatus("j2", RetrainState.FAILED, None, "futile"),)),
                  POLICY, 0)
    assert done.state.phase is Phase.MONITORING and done.state.pending_jobs == ()
    won = decide(state, JobsObserved("c", (RetrainStatus("j1", RetrainState.SUCCEEDED, "clf_2"),)), POLICY, 0)
    assert won.action == StartABTest("c", "clf_2", 0.1, "j1")


def _ab(winner: Winner, promote: bool) -> ABObserved:
    arm = ArmStats("a", 100, 100, 90)
    result = ABTestResult("t1", "clf", TestMethod.SEQUENTIAL, winner, 0.001, Recommendation.CONTINUE_TEST,
                          "msg", arm, ArmStats("b", 100, 100, 95), 0.05, 0.01, 0.09, 0.5, 0.1)
    test = ABTest("t1", "clf", "a", "b", 0.1, 0, 3)
    return ABObserved(test, result, PromotionDecision(promote, "why", {"significant": True}))


def test_ab_promotes_the_winner_ends_a_losing_test_and_waits_otherwise() -> None:
    state = ModelLoopState("clf", Phase.AB_TESTING, test_id="t1")
    promoted = decide(state, _ab(Winner.CHALLENGER, True), POLICY, 0)
    assert isinstance(promoted.action, Promote) and promoted.action.model_id == "b"
    assert promoted.action.test_id == "t1" and promoted.action.result is not None
    assert decide(state, _ab(Winner.CHALLENGER, True), LoopPolicy(auto_promote=False), 0).action is None
    lost = decide(state, _ab(Winner.CHAMPION, False), POLICY, 0)
    assert isinstance(lost.action, EndTest) and lost.action.status is ABTestStatus.CONCLUDED
    assert decide(state, _ab(Winner.INCONCLUSIVE, False), POLICY, 0).action is None


def _health(accuracy_correct: int, can: bool) -> HealthObserved:
    stats = ArmStats("m", 1000, 1000, accuracy_correct)
    return HealthObserved("m", assess_health(stats, 0.9, HealthPolicy()), {"x": 1}, can)


def test_health_rolls_back_a_critical_champion_and_alerts_once_per_episode() -> None:
    state = ModelLoopState("clf")
    critical = decide(state, _health(700, True), POLICY, 0)
    assert isinstance(critical.action, Rollback) and [n.kind for n in critical.notes] == [EventKind.HEALTH]
    stuck = decide(state, _health(700, False), POLICY, 0)  # nothing to roll back to
    assert stuck.action is None and len(stuck.notes) == 1 and stuck.state.health_alerted
    again = decide(stuck.state, _health(700, False), POLICY, 0)
    assert again.notes == ()  # no alert flood while it lasts
    healed = decide(again.state, _health(900, False), POLICY, 0)
    assert not healed.state.health_alerted
    assert decide(state, _health(700, True), LoopPolicy(auto_rollback=False), 0).action is None
    assert _health(700, True).assessment.severity is HealthSeverity.CRITICAL


def _found(*jobs: tuple[str, RetrainState], recorded: tuple[str, ...] = ()) -> JobsFound:
    return JobsFound(tuple(RetrainStatus(j, st, "m" if st is RetrainState.SUCCEEDED else None)
                           for j, st in jobs), frozenset(recorded))


def test_a_job_after_the_last_recorded_one_is_adopted_running_or_finished() -> None:
    state = ModelLoopState("clf", Phase.MONITORING)
    done = RetrainState.SUCCEEDED
    d = decide(state, _found(("j1", done), ("j2", done), recorded=("j1",)), LoopPolicy(), now_ms=0)
    assert d.state.pending_jobs == ("j2",) and d.state.phase is Phase.RETRAINING and d.action is None
    assert [(n.kind, n.details["job_id"], n.details["stage"], n.details["adopted"]) for n in d.notes] \
        == [(EventKind.RETRAINING, "j2", "started", True)]
    d = decide(state, _found(("j1", done), ("j2", RetrainState.RUNNING), recorded=("j1",)), LoopPolicy(), 0)
    assert d.state.pending_jobs == ("j2",)


def test_recorded_and_pending_jobs_are_not_adopted_again() -> None:
    pending = ModelLoopState("clf", Phase.RETRAINING, pending_jobs=("j2",))
    d = decide(pending, _found(("j1", RetrainState.FAILED), ("j2", RetrainState.RUNNING), recorded=("j1",)),
               LoopPolicy(), now_ms=0)
    assert d.state == pending and not d.notes
    state = ModelLoopState("clf", Phase.MONITORING)
    d = decide(state, _found(("j1", RetrainState.SUCCEEDED), recorded=("j1",)), LoopPolicy(), now_ms=0)
    assert d.state == state and not d.notes


def test_with_nothing_recorded_only_a_running_job_is_adopted() -> None:
    """Jobs older than the loop's records (an upgrade from a learner that kept none) stay
    history; a job still running is the one a killed learner started."""
    state = ModelLoopState("clf", Phase.MONITORING)
    d = decide(state, _found(("old", RetrainState.SUCCEEDED), ("now", RetrainState.RUNNING)), LoopPolicy(), 0)
    assert d.state.pending_jobs == ("now",)
    d = decide(state, _found(("old", RetrainState.SUCCEEDED)), LoopPolicy(), 0)
    assert d.state == state and not d.notes


def test_an_adopted_job_during_a_test_keeps_the_test_phase() -> None:
    state = ModelLoopState("clf", Phase.AB_TESTING, test_id="t1")
    d = decide(state, _found(("j1", RetrainState.SUCCEEDED), ("j2", RetrainState.RUNNING), recorded=("j1",)),
               LoopPolicy(), now_ms=0)
    assert d.state.phase is Phase.AB_TESTING and d.state.pending_jobs == ("j2",)


def test_a_window_with_too_few_labels_does_not_end_a_health_episode() -> None:
    """With no earlier champion to roll back to, HEALTH CRITICAL fired every 15 s in the demo
    (21 of 23 events): checks with too few labels read HEALTHY, reopening the episode each time."""
    state = ModelLoopState("clf")
    few = HealthObserved("m", assess_health(ArmStats("m", 30, 30, 10), 0.9, HealthPolicy()), {}, False)
    assert few.assessment.severity is HealthSeverity.HEALTHY and not few.assessment.conclusive
    alerts = 0
    for i in range(23):  # critical, too few labels, critical, ...
        d = decide(state, _health(700, False) if i % 2 == 0 else few, POLICY, 0)
        alerts += sum(n.kind is EventKind.HEALTH for n in d.notes)
        state = d.state
    assert alerts == 1 and state.health_alerted
    assert not decide(state, _health(900, False), POLICY, 0).state.health_alerted  # a real recovery
