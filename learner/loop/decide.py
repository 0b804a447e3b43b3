"""The loop's decision step, pure: ``decide(state, observation, policy, now_ms) -> Decision``.

Each periodic step of the loop gathers one observation (a drift report, finished retraining
jobs, an A/B evaluation, a health assessment) and asks :func:`decide` what follows from it given
the model type's durable state. A :class:`Decision` is the next state, at most one action that
changes the world (retrain, start a test, promote, roll back, end a test) and the events to
record. Nothing here reads a clock, a database or the network, so every rule is tested on plain
values, and the executor (:mod:`learner.loop.executor`) is the only place with side effects.

>>> from learner.loop.state import ModelLoopState, Phase
>>> from learner.retrainer import RetrainState, RetrainStatus
>>> state = ModelLoopState("clf", Phase.RETRAINING, pending_jobs=("job-1",))
>>> done = JobsObserved("clf_1.0.0", (RetrainStatus("job-1", RetrainState.SUCCEEDED, "clf_1.0.1"),))
>>> d = decide(state, done, LoopPolicy(), now_ms=5)
>>> d.action
StartABTest(champion_id='clf_1.0.0', challenger_id='clf_1.0.1', traffic_split=0.1, job_id='job-1')
>>> d.state.pending_jobs
()
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Union

from learner.abtest import ABTest, ABTestResult, ABTestStatus, Winner
from learner.drift import DriftReport
from learner.events import EventKind
from learner.health import HealthAssessment, HealthSeverity
from learner.loop.state import ModelLoopState, Phase
from learner.promotion import PromotionDecision
from learner.retrainer import RetrainState, RetrainStatus

__all__ = [
    "LoopPolicy", "Note", "StartRetrain", "StartABTest", "Promote", "Rollback", "EndTest",
    "Action", "Decision", "DriftObserved", "JobsObserved", "JobsFound", "ABObserved",
    "HealthObserved", "Observation", "decide",
]


@dataclass(frozen=True)
class LoopPolicy:
    """The automation switches and the A/B split (``LearningConfig.loop_policy()``)."""

    auto_retrain: bool = True
    auto_promote: bool = True
    auto_rollback: bool = True
    traffic_split: float = 0.1


# -- actions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """An event to record (no other effect)."""

    kind: EventKind
    message: str
    details: dict[str, Any]
    subject: str = ""


@dataclass(frozen=True)
class StartRetrain:
    reason: str
    statistics: dict[str, Any]


@dataclass(frozen=True)
class StartABTest:
    champion_id: str
    challenger_id: str
    traffic_split: float
    job_id: str = ""


@dataclass(frozen=True)
class Promote:
    """Make ``model_id`` champion (ends ``test_id`` if given); ``manual`` for an operator's."""

    model_id: str
    reason: str
    evidence: dict[str, Any]
    test_id: str | None = None
    manual: bool = False
    result: dict[str, Any] | None = None  # the A/B result behind an automatic promotion


@dataclass(frozen=True)
class Rollback:
    reason: str
    statistics: dict[str, Any]


@dataclass(frozen=True)
class EndTest:
    """End a test without promoting (the champion stays; the challenger leaves the traffic)."""

    test_id: str
    status: ABTestStatus
    reason: str
    evidence: dict[str, Any]


Action = Union[StartRetrain, StartABTest, Promote, Rollback, EndTest]


@dataclass(frozen=True)
class Decision:
    state: ModelLoopState
    action: Action | None = None
    notes: tuple[Note, ...] = ()


# -- observations --------------------------------------------------------------------------


@dataclass(frozen=True)
class DriftObserved:
    """A drift check of the champion's closed windows; ``cursor_ms`` is where the next check
    starts when this one was judged (``None``: too little data, judge again later)."""

    model_id: str
    report: DriftReport
    cursor_ms: int | None


@dataclass(frozen=True)
class JobsObserved:
    """Retraining jobs of this type that finished since the last look."""

    champion_id: str
    finished: tuple[RetrainStatus, ...]
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # candidate id -> its metrics


@dataclass(frozen=True)
class JobsFound:
    """The retrainer's jobs of this type, oldest first, and the job ids the loop's events
    already name: looked at when a learner starts.

    A job is committed by the retrainer before the loop records it, so a learner killed between
    the two leaves a job that no state lists. Such an orphan is always newer than every job the
    loop recorded (the retrainer runs one job per type at a time), so every job after the last
    recorded one is adopted, finished or not; with none recorded, only a job still running is
    (older jobs predate the loop's records)."""

    jobs: tuple[RetrainStatus, ...]
    recorded: frozenset[str]


@dataclass(frozen=True)
class ABObserved:
    test: ABTest
    result: ABTestResult
    decision: PromotionDecision


@dataclass(frozen=True)
class HealthObserved:
    model_id: str
    assessment: HealthAssessment
    evidence: dict[str, Any]
    can_roll_back: bool


Observation = Union[DriftObserved, JobsObserved, JobsFound, ABObserved, HealthObserved]


def decide(state: ModelLoopState, observation: Observation, policy: LoopPolicy, now_ms: int) -> Decision:
    """What follows from ``observation`` (see the module docstring)."""
    if isinstance(observation, DriftObserved):
        return _drift(state, observation, policy)
    if isinstance(observation, JobsObserved):
        return _jobs(state, observation, policy)
    if isinstance(observation, JobsFound):
        return _adopt(state, observation)
    if isinstance(observation, ABObserved):
        return _ab(state, observation, policy)
    return _health(state, observation, policy)


def _drift(state: ModelLoopState, obs: DriftObserved, policy: LoopPolicy) -> Decision:
    report = obs.report
    nxt = state if obs.cursor_ms is None else replace(state, drift_cursor_ms=obs.cursor_ms)
    notes: tuple[Note, ...] = ()
    if report.drift_detected and not state.in_drift:  # one alarm per drift episode
        notes = (Note(EventKind.DRIFT, report.message, report.to_dict(), obs.model_id),)
    if report.sufficient_samples:
        nxt = replace(nxt, in_drift=report.drift_detected)
    action: Action | None = None
    if report.drift_detected and policy.auto_retrain and state.phase is Phase.MONITORING:
        action = StartRetrain(report.message, report.to_dict())
    return Decision(nxt, action, notes)


def _jobs(state: ModelLoopState, obs: JobsObserved, policy: LoopPolicy) -> Decision:
    done = {s.job_id for s in obs.finished}
    pending = tuple(j for j in state.pending_jobs if j not in done)
    notes = []
    action: Action | None = None
    for status in obs.finished:
        if status.state is RetrainState.SUCCEEDED and status.model_id is not None:
            notes.append(Note(EventKind.RETRAINING,
                              f"job {status.job_id} registered challenger {status.model_id}",
                              {"job_id": status.job_id, "model_id": status.model_id,
                               "outcome": "challenger", "stage": "finished",
                               "metrics": obs.metrics.get(status.model_id, {})}, status.model_id))
            if state.phase is not Phase.AB_TESTING:
                action = StartABTest(obs.champion_id, status.model_id, policy.traffic_split, status.job_id)
        else:
            notes.append(Note(EventKind.RETRAINING,
                              f"job {status.job_id} ended without a challenger: {status.message}",
                              {"job_id": status.job_id, "outcome": "none", "message": status.message,
                               "stage": "finished"}, status.job_id))
    phase = state.phase
    if phase is Phase.RETRAINING and not pending and action is None:
        phase = Phase.MONITORING
    return Decision(replace(state, phase=phase, pending_jobs=pending), action, tuple(notes))


def _adopt(state: ModelLoopState, obs: JobsFound) -> Decision:
    known = obs.recorded | set(state.pending_jobs)
    last = max((i for i, job in enumerate(obs.jobs) if job.job_id in known), default=-1)
    orphans = tuple(job.job_id for job in obs.jobs[last + 1:]
                    if last >= 0 or job.state is RetrainState.RUNNING)
    if not orphans:
        return Decision(state)
    phase = Phase.RETRAINING if state.phase is Phase.MONITORING else state.phase
    notes = tuple(Note(EventKind.RETRAINING,
                       f"job {job} adopted: it started as the previous learner stopped",
                       {"job_id": job, "stage": "started", "adopted": True}, job)
                  for job in orphans)  # counted as started: it is the retrain nothing recorded
    return Decision(replace(state, phase=phase, pending_jobs=(*state.pending_jobs, *orphans)),
                    None, notes)


def _ab(state: ModelLoopState, obs: ABObserved, policy: LoopPolicy) -> Decision:
    test, result, decision = obs.test, obs.result, obs.decision
    if test.status is not ABTestStatus.RUNNING:
        return Decision(state)
    if decision.promote and policy.auto_promote:
        evidence = {**result.to_dict(), "accuracy": result.challenger.accuracy,
                    "checks": dict(decision.checks)}
        return Decision(state, Promote(test.challenger_id, f"A/B test winner ({result.method.value}): "
                                       f"{decision.reason}", evidence, test.test_id,
                                       result=result.to_dict()))
    if result.winner is Winner.CHAMPION:  # the challenger is significantly worse: stop its traffic
        return Decision(state, EndTest(test.test_id, ABTestStatus.CONCLUDED,
                                       f"champion kept: {result.message}", result.to_dict()))
    return Decision(state)


def _health(state: ModelLoopState, obs: HealthObserved, policy: LoopPolicy) -> Decision:
    health = obs.assessment
    if health.severity is HealthSeverity.HEALTHY:
        if not health.conclusive:  # too few labels to tell: the episode goes on (no re-alert)
            return Decision(state)
        return Decision(replace(state, health_alerted=False))
    notes: tuple[Note, ...] = ()
    if not state.health_alerted:  # one alert per episode, not one per check
        notes = (Note(EventKind.HEALTH, f"{obs.model_id} {health.severity.value}: "
                      + "; ".join(health.issues), obs.evidence, obs.model_id),)
    nxt = replace(state, health_alerted=True)
    if health.severity is HealthSeverity.CRITICAL and policy.auto_rollback and obs.can_roll_back:
        return Decision(nxt, Rollback("health: " + "; ".join(health.issues), obs.evidence), notes)
    return Decision(nxt, None, notes)
