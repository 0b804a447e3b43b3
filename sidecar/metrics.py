"""Prometheus metrics of the sidecar (prometheus-client, on an injected registry).

Counters and histograms are updated on the request path; the window statistics (accuracy, F1,
latency quantiles, PSI), the sample log and the routing generation are read at scrape time by
``StateCollector``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sidecar.baselines import BaselineBook
from sidecar.clock import Clock
from sidecar.errors import RejectReason
from sidecar.windows import WindowBook
from statcore import Store

PREFIX = "loopwise_sidecar"
_RPC_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                0.5, 1.0, 2.5)


class SidecarMetrics:
    """Request-path metrics. Label children are cached: a hot-path update is one call."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.route_decisions = Counter(
            f"{PREFIX}_route_decisions", "Routing decisions by model type and arm.",
            ["model_type", "arm"], registry=registry)
        self.records = Counter(
            f"{PREFIX}_records", "Records accepted into the statistics, by model type.",
            ["model_type"], registry=registry)
        self.feedback = Counter(
            f"{PREFIX}_feedback", "Feedback received, by result (joined, not_found, rejected).",
            ["result"], registry=registry)
        self.rejected = Counter(
            f"{PREFIX}_rejected_requests", "Requests refused, by reason.", ["reason"],
            registry=registry)
        self.rpc_duration = Histogram(
            f"{PREFIX}_rpc_duration_seconds", "Server-side RPC handling time, by method.",
            ["method"], buckets=_RPC_BUCKETS, registry=registry)
        self._routes: dict[tuple[str, str], Callable[[], None]] = {}
        self._rpcs: dict[str, Callable[[float], None]] = {}
        for reason in RejectReason:
            self.rejected.labels(reason.value)
        for result in ("joined", "not_found", "rejected"):
            self.feedback.labels(result)

    def routed(self, model_type: str, arm: str) -> None:
        inc = self._routes.get((model_type, arm))
        if inc is None:
            inc = self._routes[(model_type, arm)] = self.route_decisions.labels(model_type, arm).inc
        inc()

    def rpc(self, method: str, seconds: float) -> None:
        observe = self._rpcs.get(method)
        if observe is None:
            observe = self._rpcs[method] = self.rpc_duration.labels(method).observe
        observe(seconds)

    def reject(self, reason: RejectReason) -> None:
        self.rejected.labels(reason.value).inc()


@dataclass(eq=False)
class StateCollector(Collector):
    """Scrape-time gauges from the windows, baselines, store and routing state."""

    windows: WindowBook
    baselines: BaselineBook
    store: Store
    generation: Callable[[], int]
    clock: Clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now_ms()
        ids = ["model_type", "model_id"]
        acc = GaugeMetricFamily(f"{PREFIX}_model_accuracy_ratio",
                                "Accuracy on the primary field in the current window.", labels=ids)
        f1 = GaugeMetricFamily(f"{PREFIX}_model_f1_ratio",
                               "F1 per extraction field in the current window.",
                               labels=ids + ["field"])
        lat_name = f"{PREFIX}_inference_latency_seconds"
        lat = Metric(lat_name, "Inference latency (p50, p95, p99) in the current window.",
                     "summary")
        psi = GaugeMetricFamily(f"{PREFIX}_feature_psi",
                                "PSI of each numeric feature, current window vs baseline.",
                                labels=ids + ["feature"])
        for agg in self.windows.current(now):
            who = [agg.model_type, agg.model_id]
            if agg.accuracy is not None:
                acc.add_metric(who, agg.accuracy)
            for name, value in agg.f1().items():
                if value is not None:
                    f1.add_metric(who + [name], value)
            qs = (0.5, 0.95, 0.99)
            labels = dict(zip(ids, who))
            for q, v in zip(qs, agg.latency_quantiles(list(qs))):
                if v is not None:
                    lat.add_sample(lat_name, labels | {"quantile": str(q)}, v / 1000.0)
            if agg.latency_count:
                lat.add_sample(f"{lat_name}_count", labels, agg.latency_count)
                mean_ms = agg.latency_mean_ms or 0.0
                lat.add_sample(f"{lat_name}_sum", labels, mean_ms * agg.latency_count / 1000.0)
            for name, value in self.baselines.psi(agg).items():
                psi.add_metric(who + [name], value)
        yield from (acc, f1, lat, psi)
        stats = self.store.stats()
        yield GaugeMetricFamily(f"{PREFIX}_sample_log_samples", "Samples kept in the log.",
                                value=stats["samples"])
        yield GaugeMetricFamily(f"{PREFIX}_sample_log_bytes",
                                "Encoded size of the samples kept in the log.",
                                value=stats["bytes"])
        yield CounterMetricFamily(f"{PREFIX}_sample_log_evictions",
                                  "Samples evicted from the log by its bounds.",
                                  value=stats["evicted_total"])
        last = stats.get("last_flush_ms")
        age = GaugeMetricFamily(f"{PREFIX}_last_flush_age_seconds",
                                "Seconds since the last durable flush (absent before the first).")
        if last is not None:
            age.add_metric([], max(0.0, (now - last) / 1000.0))
        yield age
        yield GaugeMetricFamily(f"{PREFIX}_routing_generation",
                                "Generation of the routing table in force.",
                                value=self.generation())
