"""The cumulative inference-latency histogram (``loopwise_sidecar_inference_latency_seconds``).

Counted on the request path from each batch's latency column (one numpy call per model group
of a batch, never a Python call per record) and exposed as a Prometheus histogram: buckets,
``_count`` and ``_sum`` only ever grow, so ``rate()`` works across scrapes and window edges,
and ``histogram_quantile`` aggregates across pods (a per-window summary did neither).

>>> h = LatencyHistogram(bounds_s=(0.01, 0.1, 1.0))
>>> h.observe("clf", "clf_1.0.0", np.array([5.0, 50.0, 50.0, 5000.0]))
>>> [(s.labels.get("le"), s.value) for s in next(iter(h.collect())).samples][:4]
[('0.01', 1.0), ('0.1', 3.0), ('1.0', 3.0), ('+Inf', 4.0)]
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import numpy as np
from prometheus_client.core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

__all__ = ["LatencyHistogram", "LATENCY_BUCKETS_S"]

#: Upper bounds in seconds: 1 ms to 10 s, roughly 1-2.5-5 per decade.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
NAME = "loopwise_sidecar_inference_latency_seconds"


class LatencyHistogram(Collector):
    """Per (model_type, model_id): bucket counts, count and sum since the sidecar started."""

    def __init__(self, bounds_s: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        self._bounds_ms = np.asarray(bounds_s, dtype=np.float64) * 1000.0
        self._labels = [repr(float(b)) for b in bounds_s] + ["+Inf"]
        self._lock = threading.Lock()
        #: (model_type, model_id) -> (per-bucket counts with +Inf last, sum in seconds)
        self._series: dict[tuple[str, str], tuple[np.ndarray, list[float]]] = {}

    def observe(self, model_type: str, model_id: str, latency_ms: np.ndarray) -> None:
        """Counts ``latency_ms`` (validated finite and >= 0 by the batch decoder)."""
        if len(latency_ms) == 0:
            return
        # side="left": a value equal to a bound counts in that bound's bucket (le = <=).
        counts = np.bincount(np.searchsorted(self._bounds_ms, latency_ms, side="left"),
                             minlength=len(self._labels))
        total = float(np.sum(latency_ms)) / 1000.0
        with self._lock:
            series = self._series.get((model_type, model_id))
            if series is None:
                series = self._series[(model_type, model_id)] = (
                    np.zeros(len(self._labels), dtype=np.int64), [0.0])
            series[0][:] += counts
            series[1][0] += total

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily(NAME, "Inference latency reported with the records, since "
                                       "the sidecar started.", labels=["model_type", "model_id"])
        with self._lock:
            snapshot = [(k, c.copy(), s[0]) for k, (c, s) in sorted(self._series.items())]
        for (model_type, model_id), counts, total in snapshot:
            cumulative = np.cumsum(counts)
            family.add_metric([model_type, model_id],
                              [(le, float(n)) for le, n in zip(self._labels, cumulative)], total)
        yield family
