"""The learner's Prometheus metrics, on an injected registry (a fresh one per instance).

The names are a contract with ``deploy/prometheus/alerts.yaml`` (``tests/deploy``):

>>> m = LearnerMetrics()
>>> m.cycle_completed(1_800_000_000.0)
>>> m.registry.get_sample_value("loopwise_learner_cycles_total")
1.0
>>> m.registry.get_sample_value("loopwise_learner_last_cycle_timestamp_seconds")
1800000000.0
"""

from __future__ import annotations

import platform
from collections.abc import Mapping

import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

from learner.events import EventKind, LoopEvent

# ``_created`` series double every counter and histogram for a value Prometheus ignores.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: Retraining takes minutes to hours.
_RETRAIN_BUCKETS = (30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0)

__all__ = ["LearnerMetrics", "ALERT_CONTRACT", "COUNTER_METRICS"]

#: Metric names the alert rules use (exposition names, with the ``_total`` suffix).
ALERT_CONTRACT = (
    "loopwise_learner_rollbacks_total",
    "loopwise_learner_promotions_total",
    "loopwise_learner_drift_detections_total",
    "loopwise_learner_stale_sidecars",
    "loopwise_learner_cycles_total",
    "loopwise_learner_last_cycle_timestamp_seconds",
    "loopwise_learner_drift_unavailable",
)

#: The loop's counters (``ContinuousLearner.counters``) by the metric that counts the same thing,
#: so ``learner status`` names each counter as ``/metrics`` does. The status values come from the
#: durable event stream (they survive restarts); the metrics count since this process started.
COUNTER_METRICS = {
    "learning_cycles_run": "loopwise_learner_cycles_total",
    "drift_detected_count": "loopwise_learner_drift_detections_total",
    "retraining_triggered": "loopwise_learner_retrains_total",
    "ab_tests_created": "loopwise_learner_ab_tests_total",
    "promotions": "loopwise_learner_promotions_total",
    "rollbacks": "loopwise_learner_rollbacks_total",
}


class LearnerMetrics:
    """Every learner metric; ``registry`` defaults to a fresh ``CollectorRegistry``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.cycles = Counter("loopwise_learner_cycles", "learning cycles run", registry=r)
        self.last_cycle = Gauge("loopwise_learner_last_cycle_timestamp_seconds",
                                "unix time of the last learning cycle", registry=r)
        self.drift_detections = Counter("loopwise_learner_drift_detections", "drift alarms",
                                        ["model_type"], registry=r)
        self.retrains = Counter("loopwise_learner_retrains", "retraining jobs started",
                                ["model_type"], registry=r)
        self.ab_tests = Counter("loopwise_learner_ab_tests", "A/B tests created", ["model_type"], registry=r)
        self.promotions = Counter("loopwise_learner_promotions", "promotions", ["model_type"], registry=r)
        self.rollbacks = Counter("loopwise_learner_rollbacks", "rollbacks", ["model_type"], registry=r)
        self.push_latency = Histogram("loopwise_learner_push_latency_seconds",
                                      "routing/baseline push latency", ["kind"], registry=r)
        self.stale_sidecars = Gauge("loopwise_learner_stale_sidecars", "sidecars not answering", registry=r)
        # No sidecar label: pod IPs churn, and a series per address grows without bound (the
        # log and ``learner status`` name the stale sidecars).
        self.stale_events = Counter("loopwise_learner_sidecar_stale", "failed pulls from sidecars", registry=r)
        self.retrain_duration = Histogram("loopwise_learner_retrain_duration_seconds",
                                          "retraining jobs, from start to finish (either outcome)",
                                          ["model_type"], buckets=_RETRAIN_BUCKETS, registry=r)
        self.drift_unavailable = Gauge("loopwise_learner_drift_unavailable",
                                       "1 while a model type's drift cannot be evaluated (no reference "
                                       "data for its champion: see `learner status`)", ["model_type"],
                                       registry=r)
        self.champion_info = Gauge("loopwise_learner_champion_info",
                                   "1 for each model type's champion", ["model_type", "model_id"], registry=r)
        from sidecar import __version__

        Info("loopwise_learner_build", "the running learner's version", registry=r).info(
            {"version": __version__, "python": platform.python_version()})
        self._champions: dict[str, str] = {}
        self._jobs_started: dict[str, float] = {}
        self.incomplete_pushes = Counter("loopwise_learner_incomplete_pushes",
                                         "pushes that a sidecar missed or refused", ["kind"], registry=r)
        self._by_event = {EventKind.DRIFT: self.drift_detections, EventKind.PROMOTION: self.promotions,
                          EventKind.ROLLBACK: self.rollbacks}
        self._started = {EventKind.RETRAINING: self.retrains, EventKind.AB_TEST: self.ab_tests}

    def observe(self, event: LoopEvent) -> None:
        """The event-stream subscriber: counts what the events record (one source of truth)."""
        counter = self._by_event.get(event.kind)
        if counter is None and event.details.get("stage") == "started":
            counter = self._started.get(event.kind)
        if counter is not None:
            counter.labels(event.model_type).inc()
        if event.kind is EventKind.RETRAINING:
            self._retraining(event)
        elif event.kind in (EventKind.PROMOTION, EventKind.ROLLBACK) and event.subject:
            self.champions({**self._champions, event.model_type: event.subject})

    def _retraining(self, event: LoopEvent) -> None:
        """A job's duration, from its ``started`` event to its ``finished`` one (jobs started
        before this process are not timed)."""
        job = str(event.details.get("job_id", ""))
        stage = event.details.get("stage")
        if stage == "started":
            self._jobs_started[job] = event.at
        elif stage == "finished" and job in self._jobs_started:
            self.retrain_duration.labels(event.model_type).observe(
                max(0.0, event.at - self._jobs_started.pop(job)))

    def champions(self, champions: Mapping[str, str]) -> None:
        """``champion_info``: one series per model type, for its current champion only."""
        for model_type, model_id in list(self._champions.items()):
            if champions.get(model_type) != model_id:
                self.champion_info.remove(model_type, model_id)
                del self._champions[model_type]
        for model_type, model_id in champions.items():
            if self._champions.get(model_type) != model_id:
                self.champion_info.labels(model_type, model_id).set(1)
                self._champions[model_type] = model_id

    def prime(self, model_type: str) -> None:
        """Expose 0 for every per-type counter of ``model_type`` (``increase()`` needs a start)."""
        for counter in (self.drift_detections, self.retrains, self.ab_tests, self.promotions,
                        self.rollbacks):
            counter.labels(model_type)
        self.retrain_duration.labels(model_type)

    def cycle_completed(self, now: float) -> None:
        """Count a learning cycle and record when it ran."""
        self.cycles.inc()
        self.last_cycle.set(now)
