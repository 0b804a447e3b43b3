"""Prometheus metrics of the sidecar (prometheus-client, on an injected registry).

Counters and histograms (inference latency included, :mod:`sidecar.latency`) are updated on
the request path and only grow; the window statistics (accuracy, F1, PSI), the sample log and
the routing generation are read at scrape time by ``StateCollector``. Window statistics cover
the last ``window_s`` (the current window merged with the previous one), so they persist across
window edges; accuracy is left out until ``MIN_LABELLED`` records have labels, and each
statistic is held for one more window when its model goes quiet. Label sets are bounded: model
types and ids, features and fields, enum values, never a peer address. No ``_created`` series.
"""

from __future__ import annotations

import enum
import platform
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
import prometheus_client
from prometheus_client import CollectorRegistry, Counter, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sidecar.baselines import BaselineBook
from sidecar.clock import Clock
from sidecar.errors import RejectReason
from sidecar.latency import LatencyHistogram
from sidecar.windows import WindowBook
from statcore import Store

# ``_created`` series double every counter and histogram for a value Prometheus ignores.
prometheus_client.disable_created_metrics()  # type: ignore[no-untyped-call]

#: Labelled records needed before accuracy and F1 are exposed (a handful read 0.0 or 1.0).
MIN_LABELLED = 20


class Plane(enum.Enum):
    """Which server refused a request: the data-plane alert counts only ``data``."""

    DATA = "data"
    ADMIN = "admin"

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
            f"{PREFIX}_rejected_requests", "Requests refused, by plane (data, admin) and reason.",
            ["plane", "reason"], registry=registry)
        self.rpc_duration = Histogram(
            f"{PREFIX}_rpc_duration_seconds",
            "Server-side handling time of data-plane RPCs, by method and gRPC status code.",
            ["method", "code"], buckets=_RPC_BUCKETS, registry=registry)
        self.latency = LatencyHistogram()
        registry.register(self.latency)
        from sidecar import __version__

        Info(f"{PREFIX}_build", "The running sidecar's version.", registry=registry).info(
            {"version": __version__, "python": platform.python_version()})
        self._routes: dict[tuple[str, str], Callable[[], None]] = {}
        self._rpcs: dict[tuple[str, grpc.StatusCode], Callable[[float], None]] = {}
        for plane in Plane:
            for reason in RejectReason:
                self.rejected.labels(plane.value, reason.value)
        for result in ("joined", "not_found", "rejected"):
            self.feedback.labels(result)

    def routed(self, model_type: str, arm: str) -> None:
        inc = self._routes.get((model_type, arm))
        if inc is None:
            inc = self._routes[(model_type, arm)] = self.route_decisions.labels(model_type, arm).inc
        inc()

    def rpc(self, method: str, seconds: float, code: grpc.StatusCode = grpc.StatusCode.OK) -> None:
        observe = self._rpcs.get((method, code))
        if observe is None:
            observe = self._rpcs[(method, code)] = self.rpc_duration.labels(method, code.name).observe
        observe(seconds)

    def reject(self, reason: RejectReason, plane: Plane) -> None:
        self.rejected.labels(plane.value, reason.value).inc()


@dataclass(eq=False)
class StateCollector(Collector):
    """Scrape-time gauges from the windows, baselines, store and routing state."""

    windows: WindowBook
    baselines: BaselineBook
    store: Store
    generation: Callable[[], int]
    clock: Clock
    #: series (family, labels) -> (value, when it was last computed from data, ms)
    _held: dict[tuple[str, tuple[str, ...]], tuple[float, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _window_stats(self, now: int) -> Iterator[tuple[str, tuple[str, ...], float]]:
        for agg in self.windows.recent(now):
            who = (agg.model_type, agg.model_id)
            if agg.labelled >= MIN_LABELLED and agg.accuracy is not None:
                yield "accuracy", who, agg.accuracy
                for name, value in agg.f1().items():
                    if value is not None:
                        yield "f1", (*who, name), value
            for name, value in self.baselines.psi(agg).items():
                yield "psi", (*who, name), value

    def _statistics(self, now: int) -> dict[tuple[str, tuple[str, ...]], float]:
        """This scrape's values, plus the last value of any series computed within the last
        window but not now (its model went quiet, or a routing change cut its windows)."""
        with self._lock:
            return self._hold(now)

    def _hold(self, now: int) -> dict[tuple[str, tuple[str, ...]], float]:
        for family, labels, value in self._window_stats(now):
            self._held[(family, labels)] = (value, now)
        horizon = now - self.windows.window_ms
        for key in [k for k, (_, at) in self._held.items() if at < horizon]:
            del self._held[key]
        return {k: v for k, (v, _) in sorted(self._held.items())}

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now_ms()
        ids = ["model_type", "model_id"]
        families = {
            "accuracy": GaugeMetricFamily(f"{PREFIX}_model_accuracy_ratio",
                                          "Accuracy on the primary field over the last window.",
                                          labels=ids),
            "f1": GaugeMetricFamily(f"{PREFIX}_model_f1_ratio",
                                    "F1 per extraction field over the last window.", labels=ids + ["field"]),
            "psi": GaugeMetricFamily(f"{PREFIX}_feature_psi",
                                     "PSI of each numeric feature over the last window vs baseline.",
                                     labels=ids + ["feature"]),
        }
        for (family, labels), value in self._statistics(now).items():
            families[family].add_metric(list(labels), value)
        yield from families.values()
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
