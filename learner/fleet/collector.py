"""Incremental, exactly-once collection of the sidecars' windows.

The collector keeps one cursor per sidecar and the set of window keys ``(sidecar, model_type,
model_id, window_start)`` it has merged: a window is merged once even if a sidecar replays it
(after a restart, or a cursor reset). A sidecar that does not answer is marked stale and the
collection goes on with the others; its windows are picked up when it returns.

The fleet pulls (``Fleet.pull_many``; the gRPC fleet concurrently, each sidecar under its own
deadline) and the collector merges the batches as they arrive, a few sidecars at a time and
slot by slot (cache-friendly), on the caller's thread: its state is never touched by the
fleet's threads. Merging is incremental: each new window is merged
into the one aggregate per (model, window start, generation) once, and forgetting old windows
drops whole window starts, so a refresh costs what is new, not the history held.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import statcore
from learner.errors import FleetError
from learner.fleet.interface import Fleet, PullBatch, PulledWindow, WindowKey

__all__ = ["WindowCollector", "RefreshResult"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshResult:
    new_windows: int
    duplicates: int
    stale: tuple[str, ...]


class WindowCollector:
    """Pulls closed windows from every sidecar and answers merged-aggregate queries."""

    def __init__(self, fleet: Fleet, *, on_stale: Callable[[str], None] | None = None,
                 merge_group: int = 32) -> None:
        if merge_group < 1:
            raise ValueError(f"merge_group must be >= 1, got {merge_group!r}")
        self._fleet = fleet
        self._merge_group = merge_group  # sidecars' batches merged together, slot by slot
        self._cursors: dict[str, int] = {name: 0 for name in fleet.sidecars()}
        self._seen: dict[int, set[WindowKey]] = {}  # by window start: forgotten a start at a time
        # (model_type, model_id) -> {(window_start_ms, generation): merged across sidecars}
        self._windows: dict[tuple[str, str], dict[tuple[int, int], statcore.Aggregate]] = {}
        self._open: dict[str, tuple[int, tuple[statcore.Aggregate, ...]]] = {}
        self.stale: set[str] = set()
        self._on_stale = on_stale

    def cursor(self, sidecar: str) -> int:
        return self._cursors[sidecar]

    def refresh(self) -> RefreshResult:
        new = dup = 0
        cursors = {name: self._cursors.get(name, 0) for name in self._fleet.sidecars()}
        group: list[tuple[str, PullBatch]] = []
        for name, batch in self._fleet.pull_many(cursors):
            if isinstance(batch, FleetError):  # unreachable, or refusing: stale either way, go on
                self._mark_stale(name, batch)
                continue
            self.stale.discard(name)
            group.append((name, batch))
            if len(group) >= self._merge_group:
                new, dup = self._absorb_group(group, new, dup)
                group = []
        new, dup = self._absorb_group(group, new, dup)
        return RefreshResult(new, dup, tuple(sorted(self.stale)))

    def _absorb_group(self, group: list[tuple[str, PullBatch]], new: int, dup: int) -> tuple[int, int]:
        """Merges the closed windows of a few sidecars' batches slot by slot: the windows that
        go into one (model, start, generation) aggregate are merged one after the other, while
        that aggregate is in the CPU's cache (merging each sidecar's windows in turn touches
        every slot's histograms once per sidecar, and misses the cache each time). Then each
        sidecar's cursor moves and its windows are acknowledged."""
        windows = [w for _, batch in group for w in batch.closed]
        windows.sort(key=lambda w: (w.key.model_type, w.key.model_id, w.key.window_start_ms, w.key.generation))
        for window in windows:
            if self._absorb(window):
                new += 1
            else:
                dup += 1
        for name, batch in group:
            self._cursors[name] = max(self._cursors.get(name, 0), batch.cursor)
            self._open[name] = (batch.routing_generation, batch.open)
            if batch.closed:
                try:
                    self._fleet.ack(name, self._cursors[name])
                except FleetError:
                    pass  # the windows stay on the sidecar; replays are deduplicated
        return new, dup

    def _mark_stale(self, name: str, error: FleetError) -> None:
        if name not in self.stale:
            log.warning("sidecar %s marked stale: %s", name, error)
        self.stale.add(name)
        self._open.pop(name, None)
        if self._on_stale is not None:
            self._on_stale(name)

    def _absorb(self, window: PulledWindow) -> bool:
        seen = self._seen.setdefault(window.key.window_start_ms, set())
        if window.key in seen:
            return False
        seen.add(window.key)
        per_model = self._windows.setdefault((window.key.model_type, window.key.model_id), {})
        slot = (window.key.window_start_ms, window.key.generation)
        existing = per_model.get(slot)
        if existing is None:
            per_model[slot] = window.owned()
        elif existing.layout.fingerprint == window.layout.fingerprint:
            window.merge_into(existing)
        else:
            per_model[slot] = window.owned()  # a new baseline's layout wins
        return True

    def models(self, model_type: str) -> list[str]:
        return sorted(mid for (t, mid) in self._windows if t == model_type)

    def window_starts(self, model_type: str, model_id: str) -> list[int]:
        """Starts of the closed windows held for a model, oldest first."""
        return sorted({start for start, _ in self._windows.get((model_type, model_id), {})})

    def merged(
        self, model_type: str, model_id: str, *, since_ms: int | None = None,
        until_ms: int | None = None, include_open: bool = True, min_generation: int = 0,
    ) -> statcore.Aggregate | None:
        """All windows of a model in ``[since_ms, until_ms)`` merged into one aggregate (plus,
        by default, the sidecars' open windows); windows with an older layout than the newest
        are skipped (a new baseline changes the bins). ``min_generation`` keeps only windows
        served under that routing generation or a later one (an A/B test's own traffic)."""
        parts = [agg for (start, gen), agg in sorted(self._windows.get((model_type, model_id), {}).items())
                 if (since_ms is None or start >= since_ms) and (until_ms is None or start < until_ms)
                 and gen >= min_generation]
        if include_open:
            parts += [agg for gen, opened in self._open.values() if gen >= min_generation
                      for agg in opened
                      if agg.model_type == model_type and agg.model_id == model_id
                      and (since_ms is None or agg.window_start_ms >= since_ms)
                      and (until_ms is None or agg.window_start_ms < until_ms)]
        if not parts:
            return None
        fingerprint = parts[-1].layout.fingerprint
        same = [p for p in parts if p.layout.fingerprint == fingerprint]
        total = same[0].copy()
        for p in same[1:]:
            total.merge(p)
        return total

    def forget_before(self, before_ms: int) -> int:
        """Drop merged windows older than ``before_ms`` (retention); returns how many."""
        dropped = 0
        for per_model in self._windows.values():
            for slot in [slot for slot in per_model if slot[0] < before_ms]:
                del per_model[slot]
                dropped += 1
        for start in [start for start in self._seen if start < before_ms]:
            del self._seen[start]
        return dropped
