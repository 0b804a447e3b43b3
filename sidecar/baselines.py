"""Per-model-type baselines: the feature layout, reference histograms and baseline metrics.

Before a baseline is set, a model type uses the *default layout*: no features, the configured
extraction fields. Latency, confidence, errors and outcomes are tracked; numeric and
categorical features in records are accepted but not histogrammed (documented policy). A
baseline's layout applies to windows from the moment it is set.

Persistence (statcore ``Store`` blobs): ``baseline/<model_type>`` holds the serialized
``SetBaselineRequest`` and ``since/<model_type>`` when it took effect (u64 LE ms);
``layout/<fingerprint hex>`` holds every layout windows were built over,
so ``GetAggregates`` can always ship the layout that decodes a window.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass


import statcore
from loopwise_proto.v1 import admin_pb2
from sidecar.errors import Rejected, RejectReason
from statcore import Store
from statcore._statcore import Aggregate, Layout


@dataclass(frozen=True)
class Baseline:
    """The baseline of one model type."""

    model_type: str
    layout: Layout
    reference: Aggregate | None
    metrics: dict[str, float]


def fingerprint_of(aggregate_bytes: bytes) -> int:
    """The layout fingerprint in an encoded aggregate's header (magic, u16 version, u64 LE)."""
    return int.from_bytes(aggregate_bytes[6:14], "little")


def _parse(req: admin_pb2.SetBaselineRequest) -> Baseline:
    if not req.model_type:
        raise Rejected(RejectReason.EMPTY_ID, "model_type", "must not be empty")
    try:
        layout = Layout.decode(req.layout)
    except (statcore.CodecError, statcore.InvalidInputError) as e:
        raise Rejected(RejectReason.MALFORMED, "layout", str(e)) from e
    reference = None
    if req.reference:
        try:
            reference = Aggregate.decode(req.reference, layout)
        except statcore.IncompatibleError as e:
            raise Rejected(RejectReason.INCOMPATIBLE, "reference", str(e)) from e
        except (statcore.CodecError, statcore.InvalidInputError) as e:
            raise Rejected(RejectReason.MALFORMED, "reference", str(e)) from e
    for name, value in req.metrics.items():
        if not math.isfinite(value):
            raise Rejected(RejectReason.INVALID_NUMBER, f"metrics[{name!r}]", "must be finite")
    return Baseline(req.model_type, layout, reference, dict(req.metrics))


class BaselineBook:
    """Baselines by model type, loaded from and persisted to the store."""

    def __init__(self, store: Store, default_fields: tuple[str, ...]) -> None:
        self._store = store
        self._lock = threading.Lock()
        self.default_layout = Layout([], {}, list(default_fields))
        self._remember_layout(self.default_layout)
        self._baselines: dict[str, Baseline] = {}
        for _, blob in store.blobs_with_prefix("baseline/"):
            req = admin_pb2.SetBaselineRequest.FromString(blob)
            self._baselines[req.model_type] = _parse(req)

    def _remember_layout(self, layout: Layout) -> None:
        self._store.put_blob(f"layout/{layout.fingerprint:016x}", layout.encode())

    def install(self, req: admin_pb2.SetBaselineRequest, now_ms: int) -> Baseline:
        """Validates and durably installs a baseline effective from ``now_ms``; returns it."""
        baseline = _parse(req)
        with self._lock:
            self._remember_layout(baseline.layout)
            self._store.put_blob(f"since/{baseline.model_type}", now_ms.to_bytes(8, "little"))
            self._store.put_blob(f"baseline/{baseline.model_type}", req.SerializeToString())
            self._baselines[baseline.model_type] = baseline
        return baseline

    def epochs(self) -> dict[str, int]:
        """When each model type's current layout took effect (Unix ms)."""
        return {name.removeprefix("since/"): int.from_bytes(v, "little")
                for name, v in self._store.blobs_with_prefix("since/")}

    def get(self, model_type: str) -> Baseline | None:
        return self._baselines.get(model_type)

    def model_types(self) -> list[str]:
        return sorted(self._baselines)

    def layout_for(self, model_type: str) -> Layout:
        b = self._baselines.get(model_type)
        return b.layout if b is not None else self.default_layout

    def layouts(self, fingerprints: set[int]) -> dict[int, bytes]:
        """Encoded layouts by fingerprint (those the store knows)."""
        out = {}
        for fp in fingerprints:
            blob = self._store.get_blob(f"layout/{fp:016x}")
            if blob is not None:
                out[fp] = blob
        return out

    def psi(self, current: Aggregate) -> dict[str, float]:
        """PSI per numeric feature of ``current`` against the reference (same layout only), over
        ten groups of equal reference mass: fine-bin PSI is inflated on small windows."""
        b = self._baselines.get(current.model_type)
        if b is None or b.reference is None or current.layout != b.layout:
            return {}
        drift = statcore.feature_drift(b.reference, current, wasserstein=False)
        return {d.name: d.psi for d in drift if d.kind == statcore.FeatureKind.NUMERIC and d.current_n > 0}
