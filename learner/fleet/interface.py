"""The fleet seam: what the learner needs from its sidecars, whatever the transport.

One implementation per file: :mod:`learner.fleet.local` (in-process, over statcore objects;
used by tests, the demo and single-process deployments). The gRPC implementation over the
sidecars' admin API implements the same protocol.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import numpy as np

import statcore
from learner.errors import FleetError

__all__ = ["Fleet", "WindowKey", "PulledWindow", "PullBatch", "PushResult", "Baseline",
           "Outcome", "PushKind"]


class WindowKey(NamedTuple):
    """Identity of one aggregate window: never merged twice. Sidecars cut windows when the
    routing table changes, so each window was served under one routing ``generation``.
    (A named tuple: a catch-up pull builds, hashes and sorts tens of thousands of them.)"""

    sidecar: str
    model_type: str
    model_id: str
    window_start_ms: int
    generation: int = 0


class PulledWindow:
    """A closed window pulled from a sidecar, with the sidecar's sequence number.

    It holds the decoded aggregate, or the encoded bytes it arrived in with their layout: a
    collector merging thousands of windows then merges the bytes straight into its running
    sum (:meth:`merge_into`, about 1 µs a window) instead of decoding, copying and merging
    each one (about 20 µs). ``aggregate`` decodes on first use.
    """

    __slots__ = ("seq", "key", "_aggregate", "_encoded", "_layout")

    def __init__(self, seq: int, key: WindowKey, aggregate: statcore.Aggregate | None = None, *,
                 encoded: bytes | None = None, layout: statcore.Layout | None = None) -> None:
        if (aggregate is None) == (encoded is None):
            raise ValueError("a pulled window is either an aggregate or its encoded bytes")
        if encoded is not None and layout is None:
            raise ValueError("encoded bytes need the layout they were built over")
        self.seq, self.key = seq, key
        self._aggregate, self._encoded, self._layout = aggregate, encoded, layout

    @property
    def aggregate(self) -> statcore.Aggregate:
        if self._aggregate is None:
            assert self._encoded is not None and self._layout is not None
            self._aggregate = statcore.Aggregate.decode(self._encoded, self._layout)
        return self._aggregate

    @property
    def layout(self) -> statcore.Layout:
        return self._layout if self._layout is not None else self.aggregate.layout

    def owned(self) -> statcore.Aggregate:
        """A new aggregate of this window that the caller may change."""
        if self._encoded is not None:
            assert self._layout is not None
            return statcore.Aggregate.decode(self._encoded, self._layout)
        return self.aggregate.copy()

    def merge_into(self, total: statcore.Aggregate) -> None:
        """Adds this window into ``total`` (same layout and model)."""
        if self._encoded is not None:
            total.merge_bytes(self._encoded)
        else:
            total.merge(self.aggregate)

    def __repr__(self) -> str:
        return f"PulledWindow(seq={self.seq}, key={self.key!r})"


@dataclass(frozen=True)
class PullBatch:
    """Closed windows after a cursor (each counted once) and a snapshot of the open ones."""

    closed: tuple[PulledWindow, ...]
    open: tuple[statcore.Aggregate, ...]
    cursor: int
    routing_generation: int


class PushKind(enum.Enum):
    ROUTING = "routing"
    BASELINE = "baseline"


@dataclass(frozen=True)
class PushResult:
    """Which sidecars took a push, which missed it (unreachable: they converge when they
    return) and which refused it (they answered no, e.g. holding a higher generation)."""

    kind: PushKind
    generation: int
    applied: tuple[str, ...]
    missed: tuple[str, ...]
    latency_s: float
    refused: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missed and not self.refused


@dataclass(frozen=True)
class Baseline:
    """What ``SetBaseline`` carries: the layout (bin edges, vocabularies, fields) and the
    reference histograms of the champion's reference data."""

    model_type: str
    model_id: str
    layout: statcore.Layout
    reference: statcore.Aggregate
    accuracy: float | None = None

    @staticmethod
    def from_reference_data(
        model_type: str, model_id: str, data: Mapping[str, Any] | np.ndarray,
        *, feature_names: Sequence[str] | None = None, fields: Sequence[str] = (),
        bins: int = 1024, accuracy: float | None = None,
    ) -> Baseline:
        """Baseline-quantile bin edges and reference histograms from reference data."""
        if isinstance(data, Mapping):
            columns = {str(k): np.ascontiguousarray(v, dtype=np.float64) for k, v in data.items()}
        else:
            arr = np.asarray(data, dtype=np.float64)
            arr = arr[:, None] if arr.ndim == 1 else arr
            names = list(feature_names or [f"feature_{j}" for j in range(arr.shape[1])])
            columns = {n: np.ascontiguousarray(arr[:, j]) for j, n in enumerate(names)}
        layout = statcore.Layout.from_baseline(list(columns.items()), fields=list(fields), bins=bins)
        rows = np.ascontiguousarray(np.column_stack(list(columns.values())))
        reference = statcore.Aggregate(layout, model_type, model_id, 0, 0)
        n = rows.shape[0]
        reference.update(numeric=rows, confidence=np.ones(n), latency_ms=np.zeros(n))
        return Baseline(model_type, model_id, layout, reference, accuracy)


@dataclass(frozen=True)
class Outcome:
    """One served request as the data plane records it (features, outcome, latency)."""

    model_type: str
    model_id: str
    key: str | None
    latency_ms: float
    correct: bool | None = None
    error: bool = False
    confidence: float = 1.0
    features: Mapping[str, float] = field(default_factory=dict)
    field_flags: Mapping[str, int] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


class Fleet(Protocol):
    """The learner's view of its sidecars."""

    def sidecars(self) -> list[str]:
        """Names (admin addresses) of the sidecars, in a stable order."""
        ...

    def pull(self, sidecar: str, after_seq: int) -> PullBatch:
        """Closed windows with sequence > ``after_seq`` and the open windows; raises
        :class:`learner.errors.SidecarUnreachableError` when the sidecar does not answer."""
        ...

    def pull_many(self, cursors: Mapping[str, int]) -> Iterator[tuple[str, PullBatch | FleetError]]:
        """``pull(sidecar, cursor)`` for every entry of ``cursors``, yielding each sidecar's
        batch, or the ``FleetError`` it failed with, as it arrives (in any order). The caller
        consumes the results on its own thread; an implementation may pull concurrently."""
        ...

    def ack(self, sidecar: str, seq: int) -> None:
        """The learner has merged every window up to ``seq``: the sidecar may drop them."""
        ...

    def push_routing(self, table: statcore.RoutingTable) -> PushResult:
        """Send a routing table to every sidecar; sidecars refuse older generations."""
        ...

    def generations(self) -> dict[str, int]:
        """The routing generation each reachable sidecar holds (unreachable ones left out)."""
        ...

    def reach_back(self, since_ms: int) -> None:
        """The first pull from each sidecar reaches back at least to ``since_ms`` (a restarted
        learner re-collects the windows of its running tests and open drift episodes)."""
        ...

    def push_baseline(self, baseline: Baseline) -> PushResult:
        """``SetBaseline`` on every sidecar."""
        ...

    def reconcile(self) -> list[str]:
        """Re-push the latest routing table to sidecars whose table differs from it, and the
        baselines to those that missed them; returns the sidecars brought up to date."""
        ...

    def record(self, outcome: Outcome) -> None:
        """Record one served request on the sidecar that served it (data plane)."""
        ...

    def route(self, model_type: str, key: str | None = None) -> str:
        """The model that serves ``key`` (asks one sidecar's router)."""
        ...
