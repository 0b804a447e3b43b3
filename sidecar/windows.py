"""Aggregate windows per (model_type, model_id, window_start_ms), in memory and in LMDB.

Windows are aligned to ``window_ms``. The windows still receiving data live in memory and are
written to the store at each flush (only those changed since the last one); windows that
ended before the previous window are then dropped from memory. When a model type's layout
changes (a new baseline), its open windows are flushed and new ones start at that moment, so a
stored window is always over one layout. Likewise every window is cut when the routing table
changes (``cut``), so each window's traffic was served under one routing generation.

A window is *closed* once its aligned end has passed: nothing is added to it afterwards (late
feedback counts in the current window), so a learner can merge each closed window exactly once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import statcore
from statcore import Store
from statcore._statcore import Aggregate, Layout, RecordBatch

from sidecar.baselines import fingerprint_of

WindowKey = tuple[str, str, int]


class WindowBook:
    """The open aggregate windows; thread-safe."""

    def __init__(self, store: Store, window_ms: int, layout_for: Callable[[str], Layout],
                 epochs: dict[str, int] | None = None, cut_ms: int = 0) -> None:
        self._store = store
        self.window_ms = window_ms
        self._layout_for = layout_for
        self._lock = threading.Lock()
        self._flushing = threading.Lock()  # one flush at a time (see ``flush``)
        self._open: dict[WindowKey, Aggregate] = {}
        self._dirty: set[WindowKey] = set()
        self._epoch: dict[str, int] = dict(epochs or {})
        self._cut = cut_ms

    def epoch(self, model_type: str) -> int:
        """The earliest start of a window that may still receive ``model_type``'s records: when
        its current layout took effect or the routing table last changed (0: from the start)."""
        return max(self._epoch.get(model_type, 0), self._cut)

    def epochs(self) -> tuple[dict[str, int], int]:
        """Each model type's layout epoch and the routing cut: ``epoch(t)`` is the larger."""
        with self._lock:
            return dict(self._epoch), self._cut

    def window_start(self, model_type: str, ts_ms: int) -> int:
        """The window a record at ``ts_ms`` counts in: aligned to ``window_ms``, except that
        nothing counts before the model type's layout epoch (late records land in the epoch's
        window), so a window over an older layout is never reopened."""
        aligned = ts_ms - ts_ms % self.window_ms
        epoch = self.epoch(model_type)
        return epoch if aligned <= epoch else aligned

    def restore(self, now_ms: int) -> int:
        """Loads the stored windows of the current and previous period; returns how many."""
        since = now_ms - now_ms % self.window_ms - self.window_ms
        loaded = 0
        with self._lock:
            for model_type, model_id, start, blob in self._store.windows_since(since):
                layout = self._layout_for(model_type)
                if fingerprint_of(blob) != layout.fingerprint:
                    continue
                self._open[(model_type, model_id, start)] = Aggregate.decode(blob, layout)
                loaded += 1
        return loaded

    def _get(self, key: WindowKey) -> Aggregate:
        agg = self._open.get(key)
        if agg is None:
            model_type, model_id, start = key
            layout = self._layout_for(model_type)
            end = start - start % self.window_ms + self.window_ms
            agg = Aggregate(layout, model_type, model_id, start, end)
            self._open[key] = agg
        return agg

    def update(self, key: WindowKey, **columns: Any) -> None:
        """``Aggregate.update`` on the window ``key`` (validated as a whole by statcore)."""
        with self._lock:
            self._get(key).update(**columns)
            self._dirty.add(key)

    def update_batch(self, key: WindowKey, batch: RecordBatch, rows: Any) -> None:
        """``Aggregate.update_batch`` on the window ``key``."""
        with self._lock:
            self._get(key).update_batch(batch, rows)
            self._dirty.add(key)

    def update_outcomes(self, key: WindowKey, correct: Any, field_flags: Any) -> None:
        with self._lock:
            self._get(key).update_outcomes(correct, field_flags)
            self._dirty.add(key)

    def layout_changed(self, model_type: str, now_ms: int) -> None:
        """Closes the open windows of ``model_type`` (written to the store first)."""
        self._close(lambda key: key[0] == model_type, now_ms, model_type=model_type)

    def cut(self, now_ms: int) -> None:
        """Closes every open window (written to the store first): records from ``now_ms`` on go
        to new windows starting at ``now_ms`` (the routing table changed)."""
        self._close(lambda key: True, now_ms)

    def _close(self, which: Callable[[WindowKey], bool], now_ms: int, model_type: str | None = None) -> None:
        """Atomically: moves the epoch (or the global cut), writes the closing windows and drops
        them, so no record can land in a window between its last write and its removal."""
        with self._lock:
            if model_type is None:
                self._cut = max(self._cut, now_ms)
            else:
                self._epoch[model_type] = now_ms
            closing = [k for k in self._open if which(k)]
            self._store.put_windows([(*k, self._open[k].encode()) for k in closing if k in self._dirty])
            for key in closing:
                self._dirty.discard(key)
                del self._open[key]

    def flush(self, now_ms: int) -> int:
        """Writes changed windows to the store; drops windows that ended before the previous
        period. Returns how many windows were written.

        One flush runs at a time: a caller that flushes and then reads the store (the aggregate
        pulls) waits for a flush in progress on another thread, whose windows would otherwise
        be neither dirty nor stored yet — missed by that read, and never asked for again."""
        with self._flushing:
            with self._lock:
                blobs = [(k, self._open[k].encode()) for k in self._dirty]
                self._dirty.clear()
            try:
                self._store.put_windows([(*k, blob) for k, blob in blobs])
            except statcore.StoreError:
                with self._lock:
                    self._dirty.update(k for k, _ in blobs)
                raise
            horizon = now_ms - now_ms % self.window_ms - self.window_ms
            with self._lock:
                for key in [k for k in self._open if k[2] + self.window_ms <= horizon]:
                    if key not in self._dirty:
                        del self._open[key]
            return len(blobs)

    def current(self, now_ms: int) -> list[Aggregate]:
        """Copies of the windows covering ``now_ms`` (for metrics)."""
        with self._lock:
            return [
                a.copy()
                for (mt, _, start), a in self._open.items()
                if start == self.window_start(mt, now_ms)
            ]
