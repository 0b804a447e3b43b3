"""The seed's ``ContinuousLearner``: a façade over the loop's state machine.

Every periodic step (hourly drift, 6-hourly A/B evaluation, daily health, weekly report) gathers
one observation, asks the pure :func:`learner.loop.decide.decide` what follows from it given the
model type's durable state, and hands the decision to the one
:class:`~learner.loop.executor.Executor`, which commits registry transition, routing table, test,
state and events in one transaction before it pushes. Manual promotion, rollback and A/B tests
take the same path. So a learner killed at any line resumes where it stopped: its state, tests,
routing generation, event stream, drift history and schedule are in the registry's database.

Collaborators are injected (registry, fleet, retrainer, notifier, metrics, clock, sleeper); the
defaults are built only here, at the edge (the seed constructs ``ContinuousLearner(config)``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from learner.abtest import ABTest, ABTestingManager, ABTestResult, ABTestStatus, ArmStats, model_type_of
from learner.config import LearningConfig
from learner.drift import DriftDetector, DriftReport
from learner.errors import UnknownModelTypeError
from learner.events import EventKind, EventLog
from learner.fleet import Baseline, Fleet, LocalFleet, WindowCollector
from learner.health import assess_health
from learner.history import LoopHistory
from learner.loop.decide import (
    ABObserved, Decision, DriftObserved, HealthObserved, JobsFound, JobsObserved, Observation, Promote,
    Rollback, EndTest, StartABTest, StartRetrain, decide,
)
from learner.loop.executor import Applied, Executor
from learner.loop.store import DriftPoint, LoopStore
from learner.metrics import LearnerMetrics
from learner.notify import LoggingNotifier, Notifier, notifying
from learner.promotion import promotion_decision
from learner.registry import ModelRegistry, ModelStatus
from learner.retrainer import Retrainer, RetrainState, RetrainStatus
from learner.routing import RoutingPlan
from learner.scheduler import IntervalScheduler

__all__ = ["ContinuousLearner"]

log = logging.getLogger(__name__)

ReferenceSource = Callable[[str, str], "Mapping[str, np.ndarray] | np.ndarray | None"]


class ContinuousLearner:
    """The seed's ``ContinuousLearner``; see the module docstring."""

    def __init__(
        self,
        config: LearningConfig | None = None,
        *,
        registry: ModelRegistry | None = None,
        registry_root: str | Path = "model_registry",
        fleet: Fleet | None = None,
        retrainer: Retrainer | None = None,
        notifier: Notifier | None = None,
        metrics: LearnerMetrics | None = None,
        reference_data: ReferenceSource | None = None,
        clock: Callable[[], float] = time.time,
        sleeper: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = c = config or LearningConfig()
        self._clock = clock
        self._started = clock()
        self.registry = registry if registry is not None else ModelRegistry(registry_root, clock=clock)
        self.fleet: Fleet = fleet if fleet is not None else LocalFleet.with_sidecars(1, clock=clock)
        self.metrics = metrics or LearnerMetrics()
        self._store = LoopStore.of_registry(self.registry, clock)
        self.events = EventLog(self._store, clock=clock)
        self.events.subscribe(self.metrics.observe)
        self.events.subscribe(notifying(notifier or LoggingNotifier()))
        self._retrainer = retrainer
        self._reference_data = reference_data
        self._collector = WindowCollector(self.fleet, on_stale=self._on_stale)
        self._plan = RoutingPlan(self._store.routing())
        self._ab = ABTestingManager(fleet=self.fleet, collector=self._collector, plan=self._plan,
                                    clock=clock, policy=c.ab_policy(), resolve_model_type=self._model_type_of,
                                    tests=self._store)
        self._promotion = c.promotion_policy()
        self._health = c.health_policy()
        self._policy = c.loop_policy()
        self._detector = DriftDetector(policy=c.drift_policy())
        self._executor = Executor(self.registry, self._store, self._plan, self.fleet, self.events,
                                  self.metrics, retrainer=retrainer, clock=clock)
        self.baselines: dict[str, Baseline] = {}
        self._drift_unavailable: dict[str, str] = {}
        self._last_drift: dict[str, DriftReport] = {}
        self.scheduler = IntervalScheduler(clock, sleeper)
        self._cycles = 0
        self._resumed = False
        self._loop_jobs_added = False
        self.reports: list[dict[str, Any]] = []

    # -- read-only views (the admin API and the report use these, nothing else) ------------

    @property
    def history(self) -> LoopHistory:
        """Drift checks and loop events so far, from the durable store."""
        return LoopHistory(self._store)

    @property
    def collector(self) -> WindowCollector:
        """The merged sidecar windows (read them; the loop refreshes them)."""
        return self._collector

    @property
    def routing_generation(self) -> int:
        return self._plan.generation

    @property
    def counters(self) -> dict[str, int]:
        """Loop counters, derived from the durable event stream (and this process's cycles)."""
        n = self._store.event_counts()
        return {"learning_cycles_run": self._cycles,
                "drift_detected_count": sum(v for (k, _), v in n.items() if k is EventKind.DRIFT),
                "retraining_triggered": n.get((EventKind.RETRAINING, "started"), 0),
                "ab_tests_created": n.get((EventKind.AB_TEST, "started"), 0),
                "promotions": sum(v for (k, _), v in n.items() if k is EventKind.PROMOTION),
                "rollbacks": sum(v for (k, _), v in n.items() if k is EventKind.ROLLBACK)}

    def list_tests(self) -> list[ABTest]:
        return self._ab.list_tests()

    def get_test(self, test_id: str) -> ABTest:
        return self._ab.get_test(test_id)

    def running_test(self, model_type: str) -> ABTest | None:
        return self._ab.running_test(model_type)

    def last_drift(self, model_type: str) -> DriftReport | None:
        return self._last_drift.get(model_type)

    def stale_sidecars(self) -> list[str]:
        return sorted(self._collector.stale)

    def now(self) -> float:
        """The injected clock's time (epoch seconds)."""
        return self._clock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _on_stale(self, sidecar: str) -> None:
        self.metrics.stale_events.inc()

    def _model_type_of(self, model_id: str) -> str:
        try:
            return self.registry.get_model(model_id).model_type
        except LookupError:
            return model_type_of(model_id)

    def model_types(self) -> list[str]:
        if self.config.model_types:
            return list(self.config.model_types)
        return sorted(self.registry.get_statistics()["champions"])

    def _champion(self, model_type: str) -> dict[str, Any]:
        champion = self.registry.get_champion(model_type)
        if champion is None:
            raise UnknownModelTypeError(f"no champion for {model_type!r}")
        return champion

    def _step(self, model_type: str, observation: Observation) -> Applied:
        state = self._store.state(model_type)
        return self._executor.apply(decide(state, observation, self._policy, self._now_ms()))

    def _sync(self) -> None:
        self._collector.refresh()
        self._executor.resync()
        retention_ms = int(self.config.training_lookback_days * 86_400_000)
        self._collector.forget_before(self._now_ms() - retention_ms)
        self.metrics.stale_sidecars.set(len(self._collector.stale))
        self.metrics.champions(self.registry.get_statistics()["champions"])

    # -- start-up ------------------------------------------------------------------------

    def resume(self) -> None:
        """Start (or restart) from the durable state: route every type as the registry and its
        running test say, push that table (above any generation a sidecar holds), push the
        baselines, and make the first pull reach back to the oldest running test."""
        reach = self._now_ms() - int(self.config.drift_max_lookback_s * 1000)
        for model_type in self.model_types():
            self.metrics.prime(model_type)
            self._adopt_jobs(model_type)
            champion = self.registry.get_champion(model_type)
            if champion is None:
                continue
            test = self._ab.running_test(model_type)
            if test is not None and test.champion_id != champion["id"]:  # changed outside the loop
                self._executor.apply(Decision(self._store.state(model_type), EndTest(
                    test.test_id, ABTestStatus.STOPPED, f"the champion is now {champion['id']}", {})))
                test = None
            self._executor.route_champion(model_type, champion["id"], test)
            if test is not None:
                reach = min(reach, test.started_ms)
        self.fleet.reach_back(reach)
        if self._plan.table().routes:
            self._executor.push(self._plan.table())
        for model_type in self.model_types():
            if self.registry.get_champion(model_type) is not None:
                self.set_baseline(model_type)
        self._resumed = True

    def _adopt_jobs(self, model_type: str) -> None:
        """Track a retraining job that started just before the previous learner stopped."""
        if self._retrainer is None:
            return
        recorded = frozenset(str(e.details.get("job_id")) for e in
                             self._store.events(model_type, kinds=(EventKind.RETRAINING,)))
        self._step(model_type, JobsFound(tuple(self._retrainer.jobs_of(model_type)), recorded))

    def set_baseline(self, model_type: str, reference: Mapping[str, np.ndarray] | np.ndarray | None = None,
                     *, fields: tuple[str, ...] = ()) -> Baseline | None:
        """Bin edges and reference histograms from the champion's reference data, pushed to
        every sidecar with ``SetBaseline`` (on promotion, rollback, start-up, or on demand)."""
        champion = self._champion(model_type)
        data = reference if reference is not None else (
            self._reference_data(model_type, champion["id"]) if self._reference_data else None)
        if data is None:
            self._drift_unavailable_because(model_type, (
                "no reference data is configured ([registry] reference_dir)" if self._reference_data is None
                else f"no reference data for {champion['id']} ({champion['id']}.safetensors or "
                     f"{model_type}.safetensors)"))
            return None
        self._drift_unavailable_because(model_type, None)
        baseline = Baseline.from_reference_data(model_type, champion["id"], data, fields=fields,
                                                accuracy=champion["metrics"].get("accuracy"))
        self.baselines[model_type] = baseline
        push = self.fleet.push_baseline(baseline)
        self.metrics.push_latency.labels("baseline").observe(push.latency_s)
        return baseline

    def _drift_unavailable_because(self, model_type: str, reason: str | None) -> None:
        """Drift of ``model_type`` cannot be evaluated without a baseline: say so once in the
        log, in ``learner status`` and in ``loopwise_learner_drift_unavailable``."""
        if reason is not None and self._drift_unavailable.get(model_type) != reason:
            log.warning("drift of %s cannot be evaluated: %s", model_type, reason)
        if reason is None:
            self._drift_unavailable.pop(model_type, None)
        else:
            self._drift_unavailable[model_type] = reason
        self.metrics.drift_unavailable.labels(model_type).set(0 if reason is None else 1)

    @property
    def drift_unavailable(self) -> dict[str, str]:
        """Model types whose drift cannot be evaluated (no baseline), with the reason."""
        return dict(self._drift_unavailable)

    def adopt_champion(self, model_type: str) -> None:
        """Route 100 % to the registry's champion (after an outside change) and push."""
        champion = self._champion(model_type)
        test = self._ab.running_test(model_type)
        if test is not None and test.champion_id != champion["id"]:
            test = None
        if self._executor.route_champion(model_type, champion["id"], test):
            self._executor.push(self._plan.table())
        self.set_baseline(model_type)

    # -- steps ---------------------------------------------------------------------------

    def check_drift(self, model_type: str) -> DriftReport | None:
        """Drift of the champion's closed windows since the last judged check (each window is
        judged once: the cursor moves in the same transaction as the decision)."""
        baseline = self.baselines.get(model_type)
        champion = self.registry.get_champion(model_type)
        if baseline is None or champion is None:
            return None
        state = self._store.state(model_type)
        since = max(state.drift_cursor_ms, self._now_ms() - int(self.config.drift_max_lookback_s * 1000))
        window = self._collector.merged(model_type, champion["id"], since_ms=since, include_open=False)
        if window is None or window.layout.fingerprint != baseline.layout.fingerprint:
            return None
        report = self._detector.detect_drift(baseline.reference, window, champion["metrics"].get("accuracy"))
        judged = report.sufficient_samples or (report.concept is not None and report.concept.sufficient)
        starts = [s for s in self._collector.window_starts(model_type, champion["id"]) if s >= since]
        cursor = (max(starts, default=since) + 1) if judged else None
        self._last_drift[model_type] = report
        decision = decide(state, DriftObserved(champion["id"], report, cursor), self._policy, self._now_ms())
        record = None
        if report.sufficient_samples:
            points = {n: DriftPoint(max(0.0, f.psi), max(0.0, f.ks_statistic)) for n, f in report.features.items()}

            def record(tx: Any) -> None:
                self._store.append_drift_check(tx, self._clock(), model_type, champion["id"],
                                               report.drift_detected, points)
        self._executor.apply(decision, record=record)
        return report

    def trigger_retraining(self, model_type: str, report: DriftReport | None, reason: str) -> str | None:
        """Start a retraining job now (the loop does this on drift); returns its id."""
        state = self._store.state(model_type)
        applied = self._executor.apply(Decision(state, StartRetrain(reason, {} if report is None else report.to_dict())))
        job = applied.facts.get("job_id")
        return None if job is None else str(job)

    def poll_retraining(self, model_type: str) -> str | None:
        """Finished jobs: a candidate becomes challenger with an A/B test; returns the test id."""
        state = self._store.state(model_type)
        if self._retrainer is None or not state.pending_jobs:
            return None
        finished = []
        for job in state.pending_jobs:
            try:
                status = self._retrainer.poll(job)
            except LookupError:
                status = RetrainStatus(job, RetrainState.FAILED, None, "the retrainer does not know this job")
            if status.state is RetrainState.FAILED:
                log.warning("Retraining job failed: %s %s", job, status.message)
            if status.state is not RetrainState.RUNNING:
                finished.append(status)
        if not finished:
            return None
        metrics = {s.model_id: dict(self.registry.get_model(s.model_id).metrics)
                   for s in finished if s.model_id is not None}
        applied = self._step(model_type, JobsObserved(self._champion(model_type)["id"], tuple(finished), metrics))
        test_id = applied.facts.get("test_id")
        return None if test_id is None else str(test_id)

    def evaluate_ab(self, model_type: str) -> dict[str, Any] | None:
        """Look at the running test; promote its challenger when the rule says so."""
        test = self._ab.running_test(model_type)
        if test is None:
            return None
        result = self._ab.evaluate_ab_test(test.test_id)
        decision = promotion_decision(result, self._promotion)
        applied = self._step(model_type, ABObserved(self._ab.get_test(test.test_id), result, decision))
        out: dict[str, Any] = {"promoted": False, "reason": decision.reason, "test_id": test.test_id,
                               "decision": decision.promote, "checks": decision.checks,
                               "result": result.to_dict()}
        if decision.promote and not self.config.enable_auto_promotion:
            out["reason"] = f"{decision.reason} (auto_promote disabled: not promoted)"
        if "new_champion" in applied.facts:
            out.update(promoted=True, previous_champion=applied.facts["previous_champion"],
                       new_champion=applied.facts["new_champion"], generation=applied.facts["generation"],
                       missed=[] if applied.push is None else list(applied.push.missed))
            self.set_baseline(model_type)
        return out

    def check_health(self, model_type: str) -> dict[str, Any] | None:
        """The champion's health since it took over (at most one health interval back); a
        critical champion is rolled back when there is one to go back to."""
        champion = self.registry.get_champion(model_type)
        if champion is None:
            return None
        state = self._store.state(model_type)
        since = max(state.champion_since_ms, self._now_ms() - int(self.config.health_check_interval_s * 1000))
        window = self._collector.merged(model_type, champion["id"], since_ms=since)
        if window is None:
            return None
        stats = ArmStats.from_aggregate(champion["id"], window)
        baseline = champion["metrics"].get("baseline_accuracy", champion["metrics"].get("accuracy"))
        health = assess_health(stats, baseline, self._health)
        out: dict[str, Any] = {"healthy": health.healthy, "severity": health.severity.value,
                               "issues": list(health.issues), "model_id": champion["id"],
                               "accuracy": health.accuracy, "baseline_accuracy": health.baseline_accuracy,
                               "labelled": health.labelled, "rollback": False, **health.details}
        evidence = {**out, "window": stats.to_dict()}
        can = self.registry.can_roll_back(model_type)
        applied = self._step(model_type, HealthObserved(champion["id"], health, evidence, can))
        if "restored_champion" in applied.facts:
            out.update(rollback=True, rollback_result=self._rollback_dict(model_type, applied, evidence["issues"]))
            self.set_baseline(model_type)
        elif not health.healthy and not can and self.config.enable_auto_rollback \
                and health.severity.value == "critical":
            out["rollback_error"] = f"no earlier champion of {model_type} to roll back to"
        return out

    # -- the seed's API --------------------------------------------------------------------

    def drift_step(self, model_type: str) -> dict[str, Any]:
        before = self._store.state(model_type).pending_jobs
        report = self.check_drift(model_type)
        started = [j for j in self._store.state(model_type).pending_jobs if j not in before]
        test_id = self.poll_retraining(model_type)
        return {"drift": None if report is None else report.to_dict(),
                "drift_detected": bool(report is not None and report.drift_detected),
                "retraining_triggered": bool(started), "retrain_job": started[0] if started else None,
                "ab_test_created": test_id}

    def run_learning_cycle(self, model_type: str) -> dict[str, Any]:
        """One cycle for ``model_type``: sync, drift (-> retrain -> A/B), evaluate, health."""
        if not self._resumed:
            self.resume()
        self._sync()
        self._cycles += 1
        self.metrics.cycle_completed(self._clock())
        result: dict[str, Any] = {"model_type": model_type, "timestamp": self._clock()}
        if self.registry.get_champion(model_type) is None:
            result.update(status="no_champion", message=f"No champion registered for {model_type}")
            return result
        result.update(self.drift_step(model_type))
        result["ab_evaluation"] = self.evaluate_ab(model_type)
        result["health"] = self.check_health(model_type)
        result["status"] = "ok"
        return result

    def create_ab_test(self, champion_id: str, challenger_id: str, traffic_split: float | None = None) -> str:
        """Start an A/B test (the challenger becomes the type's challenger) and push its split."""
        split = self.config.ab_test_traffic_split if traffic_split is None else traffic_split
        model_type = self._model_type_of(champion_id)
        applied = self._executor.apply(Decision(self._store.state(model_type),
                                                StartABTest(champion_id, challenger_id, split)))
        return str(applied.facts["test_id"])

    def evaluate_test(self, test_id: str, method: str | None = None) -> ABTestResult:
        """Evaluate a test now (a look: the sequential state advances and is stored)."""
        return self._ab.evaluate_ab_test(test_id, method=method)

    def route_prediction(self, test_id: str, key: str | None = None) -> str:
        return self._ab.route_prediction(test_id, key)

    def record_prediction(self, test_id: str, model_id: str, document_id: str, prediction: Any,
                          ground_truth: Any = None, latency_ms: float = 0.0, **kwargs: Any) -> None:
        self._ab.record_prediction(test_id, model_id, document_id, prediction, ground_truth, latency_ms, **kwargs)

    def promote(self, model_id: str, reason: str) -> dict[str, Any]:
        """Manual promotion: through the executor like an automatic one (ends a running test)."""
        model_type = self.registry.get_model(model_id).model_type
        applied = self._executor.apply(Decision(self._store.state(model_type),
                                                Promote(model_id, reason, {"manual": True}, manual=True)))
        self.set_baseline(model_type)
        return {"model_type": model_type, "promoted": model_id,
                "previous_champion": applied.facts.get("previous_champion"), **applied.pushed(self._plan.generation)}

    def _rollback_dict(self, model_type: str, applied: Applied, reason: Any) -> dict[str, Any]:
        return {"success": True, "model_type": model_type, "reason": reason,
                "previous_champion": applied.facts.get("previous_champion"),
                "restored_champion": applied.facts.get("restored_champion"),
                "duration_s": applied.facts.get("duration_s", 0.0), **applied.pushed(self._plan.generation)}

    def rollback(self, model_type: str, reason: str) -> dict[str, Any]:
        """Manual rollback: registry transition + routing push, through the executor."""
        applied = self._executor.apply(Decision(self._store.state(model_type), Rollback(reason, {})))
        self.set_baseline(model_type)
        return self._rollback_dict(model_type, applied, reason)

    def performance(self, model_type: str, window_s: float | None = None) -> dict[str, dict[str, Any]]:
        """Per model of ``model_type``: accuracy, error rate, F1 per extraction field and latency
        p50/p95/p99 over the last ``window_s`` (default: the health interval)."""
        self._collector.refresh()
        span = self.config.health_check_interval_s if window_s is None else window_s
        since = self._now_ms() - int(span * 1000)
        out = {}
        for model_id in self._collector.models(model_type):
            agg = self._collector.merged(model_type, model_id, since_ms=since)
            if agg is not None:
                out[model_id] = ArmStats.from_aggregate(model_id, agg).to_dict()
        return out

    def report(self) -> dict[str, Any]:
        """The weekly report: counters, per model type champion, drift and A/B state."""
        per_type = {}
        for model_type in self.model_types():
            champion = self.registry.get_champion(model_type)
            test = self._ab.running_test(model_type)
            last = self._last_drift.get(model_type)
            per_type[model_type] = {
                "champion": None if champion is None else champion["id"],
                "ab_test": None if test is None else test.test_id,
                "performance": self.performance(model_type),
                "last_drift": None if last is None else last.to_dict()}
        report = {"at": self._clock(), "statistics": self.get_statistics(), "models": per_type}
        self.reports.append(report)
        self.events.emit(EventKind.REPORT, "*", "weekly report", report)
        return report

    def get_statistics(self) -> dict[str, Any]:
        return {"uptime_hours": (self._clock() - self._started) / 3600.0, **self.counters,
                "stale_sidecars": self.stale_sidecars(), "routing_generation": self._plan.generation,
                "model_registry": self.registry.get_statistics()}

    # -- the loop --------------------------------------------------------------------------

    def _each(self, name: str, step: Callable[[str], object]) -> Callable[[], None]:
        def run() -> None:
            self._sync()
            for model_type in self.model_types():
                try:
                    step(model_type)
                except Exception:
                    log.exception("%s failed for %s", name, model_type)
            self._store.mark_run(name, self._clock())
        return run

    def _drift_job(self, model_type: str) -> None:
        self._cycles += 1
        self.metrics.cycle_completed(self._clock())
        self.drift_step(model_type)

    def _report_job(self) -> None:
        self.report()
        self._store.mark_run("report", self._clock())

    def start_continuous_learning(self, *, until: float | None = None) -> None:
        """Run the loop (forever in production; until the clock reaches ``until`` in tests).
        A restarted learner resumes its schedule: a job runs one interval after its last run."""
        c = self.config
        if not self._resumed:
            self.resume()
        if not self._loop_jobs_added:
            self._loop_jobs_added = True
            last = self._store.schedule()
            now = self._clock()
            jobs: list[tuple[str, float, Callable[[], None]]] = [
                ("drift", c.drift_check_interval_s, self._each("drift", self._drift_job)),
                ("ab_evaluation", c.ab_eval_interval_s, self._each("ab_evaluation", self.evaluate_ab)),
                ("health", c.health_check_interval_s, self._each("health", self.check_health)),
                ("report", c.report_interval_s, self._report_job)]
            for name, interval, action in jobs:
                first = interval if name not in last else min(interval, max(0.0, last[name] + interval - now))
                self.scheduler.every(name, interval, action, first_in_s=first)
        self.scheduler.run(until=until)

    def stop(self) -> None:
        self.scheduler.stop()

    def close(self) -> None:
        """Close the event reader and the registry (idempotent)."""
        self._store.close()
        self.registry.close()

    def list_champions(self) -> dict[str, str]:
        return {r.model_type: r.id for r in self.registry.list_models(status=ModelStatus.CHAMPION)}

    def running_tests(self) -> dict[str, str]:
        return {t.model_type: t.test_id for t in self._ab.list_tests() if t.status is ABTestStatus.RUNNING}
