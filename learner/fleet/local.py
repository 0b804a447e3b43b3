"""In-process fleet: sidecars as statcore objects (a ``Router`` and hourly ``Aggregate`` windows).

Behaves like the gRPC fleet where it matters to the learner: windows close when the clock
passes their end and get a per-sidecar sequence number; a sidecar that is down refuses pulls
and misses pushes, and converges on :meth:`LocalFleet.reconcile` once it is back.

>>> fleet = LocalFleet.with_sidecars(2, clock=lambda: 0.0)
>>> _ = fleet.push_routing(statcore.RoutingTable(1, {"clf": statcore.Route("clf_1.0.0")}))
>>> fleet.route("clf", "doc-1")
'clf_1.0.0'
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence

import numpy as np

import statcore
from learner.errors import FleetError, SidecarUnreachableError
from learner.fleet.interface import (
    Baseline,
    Outcome,
    PullBatch,
    PulledWindow,
    PushKind,
    PushResult,
    WindowKey,
)

__all__ = ["LocalSidecar", "LocalFleet"]

Clock = Callable[[], float]


class LocalSidecar:
    """One sidecar's state: routing, layouts (from ``SetBaseline``), open and closed windows."""

    def __init__(self, name: str, *, window_s: float = 3600.0, fields: Sequence[str] = ()) -> None:
        self.name = name
        self.up = True
        self.router = statcore.Router()
        self._window_ms = int(window_s * 1000)
        self._fields = list(fields)
        self._layouts: dict[str, statcore.Layout] = {}
        self.baselines: dict[str, Baseline] = {}
        self._open: dict[tuple[str, str], statcore.Aggregate] = {}
        self._cut_ms = 0
        self._closed: list[PulledWindow] = []
        self._seq = 0

    def layout(self, model_type: str) -> statcore.Layout:
        if model_type not in self._layouts:
            self._layouts[model_type] = statcore.Layout([], fields=self._fields)
        return self._layouts[model_type]

    def set_baseline(self, baseline: Baseline, now_ms: int = 0) -> None:
        self.cut(now_ms)  # new bins: new windows
        self._layouts[baseline.model_type] = baseline.layout
        self.baselines[baseline.model_type] = baseline

    def roll(self, now_ms: int) -> None:
        """Close every window whose end is at or before ``now_ms``."""
        for k in [k for k, agg in self._open.items() if agg.window_end_ms <= now_ms]:
            self._close(k)

    def _close(self, k: tuple[str, str]) -> None:
        agg = self._open.pop(k)
        self._seq += 1
        self._closed.append(PulledWindow(
            self._seq, WindowKey(self.name, agg.model_type, agg.model_id, agg.window_start_ms,
                                 self.router.generation), agg))

    def cut(self, now_ms: int) -> None:
        """Close every open window now: a routing change starts new windows, so counts of
        an A/B test never mix with traffic served under the previous table."""
        for k in list(self._open):
            self._close(k)
        self._cut_ms = now_ms

    def swap(self, table: statcore.RoutingTable, now_ms: int) -> bool:
        if table.generation <= self.router.generation:
            return False
        self.cut(now_ms)
        return self.router.swap(table)

    def record(self, outcome: Outcome, now_ms: int) -> None:
        self.roll(now_ms)
        layout = self.layout(outcome.model_type)
        aligned = now_ms - now_ms % self._window_ms
        k = (outcome.model_type, outcome.model_id)
        agg = self._open.get(k)
        if agg is None:
            start = max(aligned, self._cut_ms)
            agg = statcore.Aggregate(layout, outcome.model_type, outcome.model_id, start,
                                     aligned + self._window_ms)
            self._open[k] = agg
        names = agg.layout.numeric_names
        numeric = None
        if names:
            numeric = np.array([[float(outcome.features.get(n, np.nan)) for n in names]])
        fields = agg.layout.fields
        flags = np.array([[outcome.field_flags.get(f, 0) for f in fields]], dtype=np.uint8)
        labelled = outcome.correct is not None
        agg.update(
            numeric=numeric, confidence=np.array([outcome.confidence]),
            latency_ms=np.array([outcome.latency_ms]),
            error=np.array([outcome.error], dtype=np.uint8),
            labelled=np.array([labelled], dtype=np.uint8),
            correct=np.array([bool(outcome.correct)], dtype=np.uint8),
            field_flags=flags.reshape(1, len(fields)) if fields else np.zeros((1, 0), np.uint8),
        )

    def add_window(self, aggregate: statcore.Aggregate) -> None:
        """Insert a complete (already closed) window, as simulations of a sidecar do."""
        self._seq += 1
        key = WindowKey(self.name, aggregate.model_type, aggregate.model_id, aggregate.window_start_ms,
                        self.router.generation)
        self._closed.append(PulledWindow(self._seq, key, aggregate))

    def pull(self, after_seq: int, now_ms: int) -> PullBatch:
        if not self.up:
            raise SidecarUnreachableError(f"sidecar {self.name} is unreachable")
        self.roll(now_ms)
        closed = tuple(w for w in self._closed if w.seq > after_seq)
        opened = tuple(agg.copy() for agg in self._open.values())
        return PullBatch(closed, opened, self._seq, self.router.generation)

    def forget_before(self, seq: int) -> None:
        """Drop closed windows the learner has acknowledged (bounded memory)."""
        self._closed = [w for w in self._closed if w.seq > seq]

    def reset_cursor(self) -> None:
        """Replay every held window with new sequence numbers (what a restarted sidecar
        without its acknowledgement state would do); the collector must not double count."""
        self._closed = [PulledWindow(self._seq + i + 1, w.key, w.aggregate)
                        for i, w in enumerate(self._closed)]
        self._seq += len(self._closed)


class LocalFleet:
    """A :class:`~learner.fleet.interface.Fleet` over in-process :class:`LocalSidecar` objects."""

    def __init__(self, sidecars: Sequence[LocalSidecar], *, clock: Clock = time.time) -> None:
        if not sidecars:
            raise ValueError("a fleet needs at least one sidecar")
        self._sidecars = {s.name: s for s in sidecars}
        self._clock = clock
        self._table: statcore.RoutingTable | None = None
        self._baselines: dict[str, Baseline] = {}
        self._baseline_seen: dict[str, dict[str, Baseline]] = {s.name: {} for s in sidecars}

    @classmethod
    def with_sidecars(cls, count: int, *, clock: Clock = time.time, window_s: float = 3600.0,
                      fields: Sequence[str] = ()) -> LocalFleet:
        return cls([LocalSidecar(f"sidecar-{i}", window_s=window_s, fields=fields)
                    for i in range(count)], clock=clock)

    def sidecar(self, name: str) -> LocalSidecar:
        return self._sidecars[name]

    def sidecars(self) -> list[str]:
        return list(self._sidecars)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def pull(self, sidecar: str, after_seq: int) -> PullBatch:
        return self._sidecars[sidecar].pull(after_seq, self._now_ms())

    def pull_many(self, cursors: Mapping[str, int]) -> Iterator[tuple[str, PullBatch | FleetError]]:
        """One sidecar after the other (in-process: nothing to wait for)."""
        for name, after_seq in cursors.items():
            try:
                yield name, self.pull(name, after_seq)
            except FleetError as exc:
                yield name, exc

    def ack(self, sidecar: str, seq: int) -> None:
        side = self._sidecars[sidecar]
        if side.up:
            side.forget_before(seq)

    def _apply_routing(self, side: LocalSidecar) -> None:
        if self._table is not None and side.router.generation != self._table.generation:
            side.swap(self._table, self._now_ms())

    def _apply_baselines(self, side: LocalSidecar) -> None:
        for model_type, baseline in self._baselines.items():
            if self._baseline_seen[side.name].get(model_type) is not baseline:
                side.set_baseline(baseline, self._now_ms())
                self._baseline_seen[side.name][model_type] = baseline

    def push_routing(self, table: statcore.RoutingTable) -> PushResult:
        started = time.perf_counter()
        if self._table is None or table.generation > self._table.generation:
            self._table = table
        applied, missed, refused = [], [], []
        for side in self._sidecars.values():
            if not side.up:
                missed.append(side.name)
            elif side.swap(table, self._now_ms()) or side.router.generation == table.generation:
                applied.append(side.name)
            else:
                refused.append(side.name)  # it holds a higher generation
        return PushResult(PushKind.ROUTING, table.generation, tuple(applied), tuple(missed),
                          time.perf_counter() - started, tuple(refused))

    def generations(self) -> dict[str, int]:
        return {s.name: int(s.router.generation) for s in self._sidecars.values() if s.up}

    def reach_back(self, since_ms: int) -> None:
        """Nothing to do: in-process sidecars keep every window until it is acknowledged."""

    def push_baseline(self, baseline: Baseline) -> PushResult:
        started = time.perf_counter()
        self._baselines[baseline.model_type] = baseline
        applied, missed = [], []
        for side in self._sidecars.values():
            if side.up:
                self._apply_baselines(side)
                applied.append(side.name)
            else:
                missed.append(side.name)
        generation = self._table.generation if self._table is not None else 0
        return PushResult(PushKind.BASELINE, generation, tuple(applied), tuple(missed),
                          time.perf_counter() - started)

    def reconcile(self) -> list[str]:
        updated = []
        for side in self._sidecars.values():
            if not side.up:
                continue
            behind = self._table is not None and side.router.generation != self._table.generation
            stale_baseline = any(self._baseline_seen[side.name].get(t) is not b
                                 for t, b in self._baselines.items())
            if behind or stale_baseline:
                self._apply_routing(side)
                self._apply_baselines(side)
                updated.append(side.name)
        return updated

    def _serving(self, key: str | None) -> LocalSidecar:
        up = [s for s in self._sidecars.values() if s.up]
        if not up:
            raise SidecarUnreachableError("no sidecar is up")
        index = zlib.crc32((key or "").encode()) % len(up) if key else 0
        return up[index]

    def record(self, outcome: Outcome) -> None:
        self._serving(outcome.key).record(outcome, self._now_ms())

    def route(self, model_type: str, key: str | None = None) -> str:
        return self._serving(key).router.route(model_type, key)
