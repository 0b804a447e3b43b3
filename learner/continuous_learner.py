"""The control loop: drift -> retraining -> A/B test -> promotion -> health -> rollback.

Every collaborator is injected (registry, fleet, retrainer, notifier, metrics, clock, sleeper);
defaults are built only here, at the edge. ``start_continuous_learning`` runs the checks on
their intervals (hourly drift, 6-hourly A/B evaluation, daily health, weekly report) on the
injected clock, so tests run days in milliseconds. ``run_learning_cycle`` runs every step once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from learner.abtest import ABPolicy, ABTestingManager, ABTestStatus, ArmStats, model_type_of
from learner.config import LearningConfig
from learner.drift import DriftDetector, DriftPolicy, DriftReport
from learner.errors import UnknownModelTypeError
from learner.fleet import Baseline, Fleet, LocalFleet, WindowCollector
from learner.events import EventLog
from learner.health import HealthMonitor, HealthPolicy
from learner.history import LoopEventKind, LoopHistory
from learner.metrics import LearnerMetrics
from learner.notify import EventKind, LoggingNotifier, Notification, Notifier
from learner.promotion import ChampionPromoter
from learner.registry import ModelRegistry, ModelStatus
from learner.retrainer import Retrainer, RetrainState
from learner.rollback import Rollback
from learner.routing import RoutingPlan
from learner.scheduler import IntervalScheduler

__all__ = ["ContinuousLearner", "ModelState"]

log = logging.getLogger(__name__)

ReferenceSource = Callable[[str, str], "Mapping[str, np.ndarray] | np.ndarray | None"]


@dataclass
class ModelState:
    """What the loop remembers per model type between steps."""

    drift_cursor_ms: int = 0
    champion_since_ms: int = 0
    pending_jobs: list[str] = field(default_factory=list)
    last_drift: DriftReport | None = None
    in_drift: bool = False


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
        self.config = config or LearningConfig()
        c = self.config
        self._clock = clock
        self._started = clock()
        self.registry = registry if registry is not None else ModelRegistry(registry_root, clock=clock)
        self.fleet: Fleet = fleet if fleet is not None else LocalFleet.with_sidecars(1, clock=clock)
        self.metrics = metrics or LearnerMetrics()
        # Every notification is numbered and kept (the admin API's ListEvents reads it).
        self.events = notifier if isinstance(notifier, EventLog) else EventLog(
            notifier or LoggingNotifier(), clock=clock)
        self.notifier: Notifier = self.events
        self.retrainer = retrainer
        self._reference_data = reference_data
        self.collector = WindowCollector(self.fleet, on_stale=self._on_stale)
        self.plan = RoutingPlan()
        self.ab_testing = ABTestingManager(
            fleet=self.fleet, collector=self.collector, plan=self.plan, clock=clock,
            policy=ABPolicy(c.ab_test_method, c.ab_test_significance_level, c.ab_test_min_samples,
                            c.srm_threshold, c.msprt_tau),
            resolve_model_type=self._model_type_of)
        self.promoter = ChampionPromoter(
            c.min_improvement_threshold, c.max_degradation_threshold, ab_testing=self.ab_testing,
            registry=self.registry, notifier=self.notifier, improvement_kind=c.improvement_kind)
        self.detector = DriftDetector(policy=DriftPolicy(
            psi_threshold=c.drift_threshold_psi, ks_threshold=c.drift_ks_threshold,
            fdr_q=c.drift_fdr_q, min_samples=c.drift_min_samples, psi_bins=c.drift_psi_bins,
            accuracy_drop=c.performance_degradation_threshold,
            min_labelled=c.min_labelled_for_concept_drift), psi_threshold=c.drift_threshold_psi)
        self.health = HealthMonitor(
            self.registry, Rollback(self.registry, self.plan, self.fleet, self.notifier), self.notifier,
            policy=HealthPolicy(c.performance_degradation_threshold, c.health_min_labelled,
                                c.health_max_error_rate, c.health_latency_p99_ms))
        self.baselines: dict[str, Baseline] = {}
        self.states: dict[str, ModelState] = {}
        self.scheduler = IntervalScheduler(clock, sleeper)
        self._loop_jobs_added = False
        self.counters = {"learning_cycles_run": 0, "drift_detected_count": 0,
                         "retraining_triggered": 0, "ab_tests_created": 0, "promotions": 0,
                         "rollbacks": 0}
        self.reports: list[dict[str, Any]] = []
        self._history = LoopHistory()

    # -- helpers -------------------------------------------------------------------------

    @property
    def history(self) -> LoopHistory:
        """Drift checks and loop events so far (read it; only the loop writes it)."""
        return self._history

    def now(self) -> float:
        """The injected clock's time (epoch seconds)."""
        return self._clock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _on_stale(self, sidecar: str) -> None:
        self.metrics.stale_events.labels(sidecar).inc()

    def _model_type_of(self, model_id: str) -> str:
        try:
            return self.registry.get_model(model_id).model_type
        except LookupError:
            return model_type_of(model_id)

    def _state(self, model_type: str) -> ModelState:
        return self.states.setdefault(model_type, ModelState())

    def model_types(self) -> list[str]:
        if self.config.model_types:
            return list(self.config.model_types)
        return sorted(self.registry.get_statistics()["champions"])

    def _champion(self, model_type: str) -> dict[str, Any]:
        champion = self.registry.get_champion(model_type)
        if champion is None:
            raise UnknownModelTypeError(f"no champion for {model_type!r}")
        return champion

    def _sync(self) -> None:
        self.collector.refresh()
        self.fleet.reconcile()
        retention_ms = int(self.config.training_lookback_days * 86_400_000)
        self.collector.forget_before(self._now_ms() - retention_ms)
        self.metrics.stale_sidecars.set(len(self.collector.stale))

    def _push_route(self, model_type: str, champion: str) -> None:
        push = self.fleet.push_routing(self.plan.set_route(model_type, champion=champion))
        self.metrics.push_latency.labels("routing").observe(push.latency_s)

    # -- baselines -----------------------------------------------------------------------

    def set_baseline(self, model_type: str, reference: Mapping[str, np.ndarray] | np.ndarray | None = None,
                     *, fields: tuple[str, ...] = ()) -> Baseline | None:
        """Compute bin edges and reference histograms from the champion's reference data and
        push ``SetBaseline`` to every sidecar (on promotion, on rollback, or on demand)."""
        champion = self._champion(model_type)
        data = reference if reference is not None else (
            self._reference_data(model_type, champion["id"]) if self._reference_data else None)
        if data is None:
            return None
        baseline = Baseline.from_reference_data(model_type, champion["id"], data, fields=fields,
                                                accuracy=champion["metrics"].get("accuracy"))
        self.baselines[model_type] = baseline
        push = self.fleet.push_baseline(baseline)
        self.metrics.push_latency.labels("baseline").observe(push.latency_s)
        state = self._state(model_type)
        state.drift_cursor_ms, state.in_drift = self._now_ms(), False
        return baseline

    def adopt_champion(self, model_type: str) -> None:
        """Route 100 % to the registry's champion (start-up, or after an outside change)."""
        champion = self._champion(model_type)
        self._push_route(model_type, champion["id"])
        self._state(model_type).champion_since_ms = self._now_ms()
        self.set_baseline(model_type)

    # -- steps ---------------------------------------------------------------------------

    def check_drift(self, model_type: str) -> DriftReport | None:
        """Drift of the champion's data since the last evaluated check (tumbling windows:
        closed windows accumulate until ``drift_min_samples`` records, then are judged once)."""
        baseline = self.baselines.get(model_type)
        champion = self.registry.get_champion(model_type)
        if baseline is None or champion is None:
            return None
        state = self._state(model_type)
        since = max(state.drift_cursor_ms, self._now_ms() - int(self.config.drift_max_lookback_s * 1000))
        window = self.collector.merged(model_type, champion["id"], since_ms=since, include_open=False)
        if window is None or window.layout.fingerprint != baseline.layout.fingerprint:
            return None
        accuracy = champion["metrics"].get("accuracy")
        report = self.detector.detect_drift(baseline.reference, window, accuracy)
        if report.sufficient_samples or (report.concept is not None and report.concept.sufficient):
            state.drift_cursor_ms = self._last_window_start(model_type, champion["id"], since) + 1
        state.last_drift = report
        if report.sufficient_samples:
            self._history.record_drift(self._clock(), model_type, champion["id"], report)
        if report.drift_detected:
            self.counters["drift_detected_count"] += 1
            self.metrics.drift_detections.labels(model_type).inc()
            if not state.in_drift:  # notify on entering drift, not at every alarming check
                self._history.record_event(self._clock(), LoopEventKind.DRIFT_ALARM, model_type,
                                           champion["id"], report.message)
                self.notifier.notify(Notification(EventKind.DRIFT, model_type, report.message,
                                                  report.to_dict()))
        if report.sufficient_samples:
            state.in_drift = report.drift_detected
        return report

    def _last_window_start(self, model_type: str, model_id: str, since: int) -> int:
        starts = self.collector.window_starts(model_type, model_id)
        return max((s for s in starts if s >= since), default=since)

    def trigger_retraining(self, model_type: str, report: DriftReport | None, reason: str) -> str | None:
        if self.retrainer is None:
            log.warning("retraining wanted for %s (%s) but no retrainer is configured", model_type, reason)
            return None
        job = self.retrainer.trigger(model_type, reason, {} if report is None else report.to_dict())
        if job is not None:
            self._state(model_type).pending_jobs.append(job)
            self.counters["retraining_triggered"] += 1
            self.metrics.retrains.labels(model_type).inc()
            self._history.record_event(self._clock(), LoopEventKind.RETRAIN, model_type, job, reason)
            self.notifier.notify(Notification(EventKind.RETRAINING, model_type, f"job {job}: {reason}"))
        return job

    def poll_retraining(self, model_type: str) -> str | None:
        """Finished jobs' candidates become challenger with an A/B test; returns the test id."""
        if self.retrainer is None:
            return None
        state = self._state(model_type)
        test_id = None
        for job in list(state.pending_jobs):
            status = self.retrainer.poll(job)
            if status.state is RetrainState.RUNNING:
                continue
            state.pending_jobs.remove(job)
            if status.state is RetrainState.SUCCEEDED and status.model_id is not None:
                champion = self._champion(model_type)
                # A retrainer may have made its candidate challenger already (the LoRA worker does).
                if self.registry.get_model(status.model_id).status is not ModelStatus.CHALLENGER:
                    self.registry.set_challenger(status.model_id, reason=f"retrained (job {job})")
                record = self.registry.get_model(status.model_id)
                self.notifier.notify(Notification(
                    EventKind.RETRAINING, model_type, f"job {job} registered challenger {status.model_id}",
                    {"job_id": job, "model_id": status.model_id, "outcome": "challenger",
                     "metrics": dict(record.metrics)}))
                test_id = self.create_ab_test(champion["id"], status.model_id,
                                              self.config.ab_test_traffic_split)
            else:
                log.warning("Retraining job failed: %s %s", job, status.message)
                self.notifier.notify(Notification(
                    EventKind.RETRAINING, model_type, f"job {job} ended without a challenger: {status.message}",
                    {"job_id": job, "outcome": "none", "message": status.message}))
        return test_id

    def evaluate_ab(self, model_type: str) -> dict[str, Any] | None:
        test = self.ab_testing.running_test(model_type)
        if test is None:
            return None
        outcome = self.promoter.evaluate_and_promote(test.test_id, auto_promote=self.config.enable_auto_promotion)
        if outcome["promoted"]:
            self.counters["promotions"] += 1
            self.metrics.promotions.labels(model_type).inc()
            self._state(model_type).champion_since_ms = self._now_ms()
            self.set_baseline(model_type)
        return outcome

    def check_health(self, model_type: str) -> dict[str, Any] | None:
        champion = self.registry.get_champion(model_type)
        if champion is None:
            return None
        state = self._state(model_type)
        since = max(state.champion_since_ms, self._now_ms() - int(self.config.health_check_interval_s * 1000))
        window = self.collector.merged(model_type, champion["id"], since_ms=since)
        if window is None:
            return None
        health = self.health.check(model_type, window, auto_rollback=self.config.enable_auto_rollback)
        if health["rollback"]:
            self._after_rollback(model_type)
        return health

    def _after_rollback(self, model_type: str) -> None:
        self.counters["rollbacks"] += 1
        self.metrics.rollbacks.labels(model_type).inc()
        self._state(model_type).champion_since_ms = self._now_ms()
        test = self.ab_testing.running_test(model_type)
        if test is not None:
            test.status = ABTestStatus.STOPPED
        self.set_baseline(model_type)

    # -- the seed's API --------------------------------------------------------------------

    def drift_step(self, model_type: str) -> dict[str, Any]:
        report = self.check_drift(model_type)
        job = None
        if report is not None and report.drift_detected and self.config.enable_auto_retraining \
                and self.ab_testing.running_test(model_type) is None \
                and not self._state(model_type).pending_jobs:
            job = self.trigger_retraining(model_type, report, report.message)
        test_id = self.poll_retraining(model_type)
        return {"drift": None if report is None else report.to_dict(),
                "drift_detected": bool(report is not None and report.drift_detected),
                "retraining_triggered": job is not None, "retrain_job": job, "ab_test_created": test_id}

    def run_learning_cycle(self, model_type: str) -> dict[str, Any]:
        """One cycle for ``model_type``: sync, drift (-> retrain -> A/B), evaluate, health."""
        self._sync()
        self.counters["learning_cycles_run"] += 1
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
        split = self.config.ab_test_traffic_split if traffic_split is None else traffic_split
        test_id = self.ab_testing.create_ab_test(champion_id, challenger_id, split)
        model_type = self.ab_testing.get_test(test_id).model_type
        self.counters["ab_tests_created"] += 1
        self.metrics.ab_tests.labels(model_type).inc()
        self.notifier.notify(Notification(
            EventKind.AB_TEST, model_type,
            f"A/B test {test_id}: {challenger_id} gets {split:.0%} of traffic against {champion_id}",
            {"test_id": test_id, "champion_id": champion_id, "challenger_id": challenger_id,
             "traffic_split": split, "method": self.config.ab_test_method.value}))
        return test_id

    def route_prediction(self, test_id: str, key: str | None = None) -> str:
        return self.ab_testing.route_prediction(test_id, key)

    def record_prediction(self, test_id: str, model_id: str, document_id: str, prediction: Any,
                          ground_truth: Any = None, latency_ms: float = 0.0, **kwargs: Any) -> None:
        self.ab_testing.record_prediction(test_id, model_id, document_id, prediction, ground_truth,
                                          latency_ms, **kwargs)

    def promote(self, model_id: str, reason: str) -> dict[str, Any]:
        """Manual promotion: registry transition, then route 100 % to it and push its baseline."""
        model_type = self.registry.get_model(model_id).model_type
        previous = self.registry.promote_to_champion(model_id, reason=reason, metrics={"manual": True})
        test = self.ab_testing.running_test(model_type)
        if test is not None:
            test.status = ABTestStatus.STOPPED
        self.counters["promotions"] += 1
        self.metrics.promotions.labels(model_type).inc()
        self.adopt_champion(model_type)
        self.notifier.notify(Notification(EventKind.PROMOTION, model_type,
                                          f"promoted {model_id} by hand: {reason}"))
        return {"model_type": model_type, "promoted": model_id, "previous_champion": previous,
                "generation": self.plan.generation}

    def rollback(self, model_type: str, reason: str) -> dict[str, Any]:
        """Manual rollback: registry transition + routing push to every sidecar."""
        result = self.promoter.rollback_to_previous_champion(model_type, reason)
        self._after_rollback(model_type)
        return result

    def performance(self, model_type: str, window_s: float | None = None) -> dict[str, dict[str, Any]]:
        """Per model of ``model_type``: accuracy, error rate, F1 per extraction field and latency
        p50/p95/p99 over the last ``window_s`` (default: the health interval)."""
        self.collector.refresh()
        span = self.config.health_check_interval_s if window_s is None else window_s
        since = self._now_ms() - int(span * 1000)
        out = {}
        for model_id in self.collector.models(model_type):
            agg = self.collector.merged(model_type, model_id, since_ms=since)
            if agg is not None:
                out[model_id] = ArmStats.from_aggregate(model_id, agg).to_dict()
        return out

    def report(self) -> dict[str, Any]:
        """The weekly report: counters, per model type champion, drift and A/B state."""
        per_type = {}
        for model_type in self.model_types():
            champion = self.registry.get_champion(model_type)
            test = self.ab_testing.running_test(model_type)
            last = self._state(model_type).last_drift
            per_type[model_type] = {
                "champion": None if champion is None else champion["id"],
                "ab_test": None if test is None else test.test_id,
                "performance": self.performance(model_type),
                "last_drift": None if last is None else last.to_dict()}
        report = {"at": self._clock(), "statistics": self.get_statistics(), "models": per_type}
        self.reports.append(report)
        self.notifier.notify(Notification(EventKind.REPORT, "*", "weekly report", report))
        return report

    def get_statistics(self) -> dict[str, Any]:
        return {"uptime_hours": (self._clock() - self._started) / 3600.0, **self.counters,
                "stale_sidecars": sorted(self.collector.stale),
                "model_registry": self.registry.get_statistics()}

    # -- the loop --------------------------------------------------------------------------

    def _each(self, step: Callable[[str], object]) -> Callable[[], None]:
        def run() -> None:
            self._sync()
            for model_type in self.model_types():
                try:
                    step(model_type)
                except Exception:
                    log.exception("%s failed for %s", getattr(step, "__name__", "step"), model_type)
        return run

    def _drift_job(self, model_type: str) -> None:
        self.counters["learning_cycles_run"] += 1
        self.metrics.cycle_completed(self._clock())
        self.drift_step(model_type)

    def start_continuous_learning(self, *, until: float | None = None) -> None:
        """Run the loop (forever in production; until the clock reaches ``until`` in tests)."""
        c = self.config
        for model_type in self.model_types():
            self.metrics.prime(model_type)
            if self.plan.route(model_type) is None:
                self.adopt_champion(model_type)
        if not self._loop_jobs_added:
            self._loop_jobs_added = True
            self.scheduler.every("drift", c.drift_check_interval_s, self._each(self._drift_job))
            self.scheduler.every("ab_evaluation", c.ab_eval_interval_s, self._each(self.evaluate_ab))
            self.scheduler.every("health", c.health_check_interval_s, self._each(self.check_health))
            self.scheduler.every("report", c.report_interval_s, self.report)
        self.scheduler.run(until=until)

    def stop(self) -> None:
        self.scheduler.stop()

    def close(self) -> None:
        self.registry.close()

    def list_champions(self) -> dict[str, str]:
        return {r.model_type: r.id for r in self.registry.list_models(status=ModelStatus.CHAMPION)}
