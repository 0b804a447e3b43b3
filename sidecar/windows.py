"""Aggregate windows per (model_type, model_id, window_start_ms), in memory and in LMDB.

Windows are aligned to ``window_ms``. The windows still receiving data live in memory and are
written to the store at each flush (only those changed since the last one); windows that
ended before the previous window are then dropped from memory. When a model type's layout
changes (a new baseline), its open windows are flushed and new ones start at that moment, so a
stored window is always over one layout. Likewise every window is cut when the routing table
changes (``cut``), so each window's traffic was served under one routing generation.

A window is *closed* once its aligned end has passed: nothing is added to it afterwards (late
feedback counts in the current window), so a learner can merge each closed window exactly once.

Crash consistency with the sample log (issue 14): every write of windows is one LMDB
transaction together with a sample-log flush and the windows' *high-water seq*
(``Store.flush_with_windows``). The windows and the seq are captured together while no batch is
half-applied (``applying``: a batch's append to the log and its window updates happen under one
lock), so the stored windows hold exactly the log's records below the high-water seq, and the
same transaction makes every one of those records durable in the log. At open, ``replay`` feeds
the log's records from the high-water seq on into the windows (the log runs ahead when it was
flushed alone: by the flush interval, by back-pressure or by statcore's flush thread). A window
not in memory is read back from the store before it is updated, never started afresh over a
stored one. Feedback outcomes are written (``flush``) before the feedback is acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import statcore
from statcore import Store
from statcore._statcore import Aggregate, Layout, RecordBatch

from sidecar.baselines import fingerprint_of

WindowKey = tuple[str, str, int]

log = logging.getLogger(__name__)


class WindowBook:
    """The open aggregate windows; thread-safe."""

    def __init__(self, store: Store, window_ms: int, layout_for: Callable[[str], Layout],
                 epochs: dict[str, int] | None = None, cut_ms: int = 0) -> None:
        self._store = store
        self.window_ms = window_ms
        self._layout_for = layout_for
        self._lock = threading.Lock()
        #: Held while a batch is appended to the log and applied to the windows, and while the
        #: windows and the log's next seq are captured together.
        self._apply = threading.Lock()
        #: Serialises writes of windows, so a later capture is never overwritten by an earlier.
        self._flush_lock = threading.RLock()
        #: Outcome updates so far, and how many of them a committed flush had captured.
        self._changes = 0
        self._durable_changes = 0
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
        """The window ``key``, from memory, else read back from the store, else a new one.
        Raises ``InvalidInputError`` for a key the store cannot hold."""
        agg = self._open.get(key)
        if agg is None:
            model_type, model_id, start = key
            layout = self._layout_for(model_type)
            blob = self._store.get_window(model_type, model_id, start)
            if blob is not None and fingerprint_of(blob) == layout.fingerprint:
                agg = Aggregate.decode(blob, layout)
            else:
                end = start - start % self.window_ms + self.window_ms
                agg = Aggregate(layout, model_type, model_id, start, end)
            self._open[key] = agg
        return agg

    @contextlib.contextmanager
    def applying(self) -> Iterator[None]:
        """Held while one batch is appended to the sample log and applied to the windows, so a
        flush never captures the windows with a batch half-applied."""
        with self._apply:
            yield

    def replay(self) -> int:
        """Feeds the sample log's records from the windows' high-water seq on into the windows
        (after a crash the log may hold records the stored windows lack); returns how many."""
        high_water = self._store.windows_high_water()
        if high_water is None:
            return 0
        epochs, cut = self.epochs()
        replayed, after = 0, high_water
        while chunk := self._store.batches_from(after, 64):
            for first_seq, batch in chunk:
                skip = after - first_seq
                for model_type, model_id, start, rows in batch.groups(self.window_ms, epochs, cut):
                    rows = np.ascontiguousarray(rows[rows >= skip]) if skip > 0 else rows
                    if len(rows):
                        self.update_batch((model_type, model_id, start), batch, rows)
                        replayed += len(rows)
                after = first_seq + len(batch)
        return replayed

    def prepare(self, keys: list[WindowKey]) -> None:
        """Opens the windows ``keys`` (empty; nothing is marked changed), so that a batch can
        be refused before any of it is applied if one cannot be opened."""
        with self._lock:
            for key in keys:
                self._get(key)

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

    def update_outcomes(self, key: WindowKey, correct: Any, field_flags: Any) -> int:
        """``Aggregate.update_outcomes`` on the window ``key``; returns the change's number, for
        ``flush_through``."""
        with self._lock:
            self._get(key).update_outcomes(correct, field_flags)
            self._dirty.add(key)
            self._changes += 1
            return self._changes

    def flush_through(self, change: int, now_ms: int) -> None:
        """Makes change number ``change`` (from ``update_outcomes``) durable: returns at once if
        a flush captured after it has committed meanwhile (concurrent feedback shares one
        commit, as a group commit), else flushes."""
        with self._flush_lock:
            if self._durable_changes >= change:
                return
            self.flush(now_ms)

    def layout_changed(self, model_type: str, now_ms: int) -> None:
        """Closes the open windows of ``model_type`` (written to the store first)."""
        self._close(lambda key: key[0] == model_type, now_ms, model_type=model_type)

    def cut(self, now_ms: int) -> None:
        """Closes every open window (written to the store first): records from ``now_ms`` on go
        to new windows starting at ``now_ms`` (the routing table changed)."""
        self._close(lambda key: True, now_ms)

    def _close(self, which: Callable[[WindowKey], bool], now_ms: int, model_type: str | None = None) -> None:
        """Atomically: moves the epoch (or the global cut), writes every changed window (with
        the sample log, one transaction) and drops the closing ones, so no record can land in a
        window between its last write and its removal."""

        def close() -> dict[WindowKey, Aggregate]:
            if model_type is None:
                self._cut = max(self._cut, now_ms)
            else:
                self._epoch[model_type] = now_ms
            return {k: self._open.pop(k) for k in [k for k in self._open if which(k)]}

        self._commit(now_ms, close)

    def flush(self, now_ms: int) -> int:
        """Writes changed windows to the store with the sample log (one transaction); drops
        windows that ended before the previous period. Returns how many windows were written.

        Whatever fails, no window's pending updates are lost: the dirty set is restored before
        the error propagates. A window the store could not hold (its ids too long, or with a
        NUL) is never opened (``_get`` reads the store first, which refuses its key), so it
        cannot hold the others hostage.
        """
        written = self._commit(now_ms, dict)
        horizon = now_ms - now_ms % self.window_ms - self.window_ms
        with self._lock:
            for key in [k for k in self._open if k[2] + self.window_ms <= horizon]:
                if key not in self._dirty:
                    del self._open[key]
        return written

    def _commit(self, now_ms: int, close: Callable[[], dict[WindowKey, Aggregate]]) -> int:
        """Captures the changed windows and the log's next seq together (no batch half-applied),
        runs ``close`` in the same critical section (it removes windows from memory and returns
        them), then commits windows, high-water seq and the sample log in one transaction.
        On failure the closed windows and the dirty set are restored. Returns windows written."""
        with self._flush_lock:
            with self._apply, self._lock:
                blobs = [(k, self._open[k].encode()) for k in self._dirty]
                high_water = self._store.next_seq()
                closed = close()
                self._dirty.clear()
                changes = self._changes
            try:
                self._store.flush_with_windows(now_ms, [(*k, blob) for k, blob in blobs],
                                               high_water)
                self._durable_changes = max(self._durable_changes, changes)
                return len(blobs)
            except BaseException:
                with self._lock:
                    for key, agg in closed.items():
                        self._open.setdefault(key, agg)
                    self._dirty.update(k for k, _ in blobs)
                raise

    def recent(self, now_ms: int) -> list[Aggregate]:
        """Per model, the windows in memory that overlap the last ``window_ms`` before
        ``now_ms``, merged (for metrics): at least one full window of data once the sidecar has
        run that long, so a window-scoped series neither vanishes nor reads a near-empty window
        at a window edge. A window over another layout than the newest one is left out."""
        by_model: dict[tuple[str, str], list[tuple[int, Aggregate]]] = {}
        with self._lock:
            for (mt, mid, start), a in self._open.items():
                if start <= now_ms and a.window_end_ms > now_ms - self.window_ms:
                    by_model.setdefault((mt, mid), []).append((start, a))
            out = []
            for windows in by_model.values():
                windows.sort(key=lambda w: w[0], reverse=True)
                merged = windows[0][1].copy()
                for _, older in windows[1:]:
                    if older.layout.fingerprint == merged.layout.fingerprint:
                        merged.merge(older)
                out.append(merged)
        return out

    def current(self, now_ms: int) -> list[Aggregate]:
        """Copies of the windows covering ``now_ms`` (for metrics)."""
        with self._lock:
            return [
                a.copy()
                for (mt, _, start), a in self._open.items()
                if start == self.window_start(mt, now_ms)
            ]
