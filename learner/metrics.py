"""The learner's Prometheus metrics, on an injected registry (a fresh one per instance)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

__all__ = ["LearnerMetrics"]


class LearnerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.cycles = Counter("loopwise_learner_cycles", "learning cycles run", registry=r)
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
        self.stale_events = Counter("loopwise_learner_sidecar_stale", "failed pulls", ["sidecar"], registry=r)
