"""Record batches: validation, conversion to columns, statistics and the sample log.

A ``RecordBatch`` is validated as a whole before anything is applied (a refused batch changes
nothing). Columns are converted with numpy; statistics are updated with one
``Aggregate.update`` call per (model_type, model_id, window) group. Every record is appended to
the durable sample log (unless ``log_samples`` is off), which becomes durable at the next flush
(within ``flush_interval_s``).

Features: numeric columns are matched to the model type's layout by name; a layout feature
absent from the batch is missing (NaN); batch features not in the layout are ignored. NaN in a
feature means "missing"; ±inf is refused. Confidence must be in [0, 1] and latency finite and
>= 0 (NaN refused).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from loopwise_proto.v1 import sidecar_pb2
from sidecar.config import IngestConfig
from sidecar.errors import Rejected, RejectReason
from sidecar.windows import WindowBook
from statcore import Store
from statcore._statcore import Layout


def _bad(reason: RejectReason, field: str, detail: str) -> Rejected:
    return Rejected(reason, field, detail)


def _optional_column(name: str, values: Sequence[object], n: int) -> None:
    if len(values) not in (0, n):
        raise _bad(RejectReason.MALFORMED, name, f"has {len(values)} values, expected 0 or {n}")


def _first(mask: np.ndarray) -> int:
    return int(np.flatnonzero(mask)[0])


@dataclass
class Columns:
    """A validated batch in columnar form."""

    n: int
    request_id: list[str]
    document_id: list[str]
    model_type: list[str]
    model_id: list[str]
    ts_ms: np.ndarray
    confidence: np.ndarray
    latency_ms: np.ndarray
    error: np.ndarray
    numeric_names: list[str]
    numeric: np.ndarray
    categorical_names: list[str]
    categorical: list[str]
    prediction: list[str]
    payload: list[bytes]


def _check_ids(name: str, ids: list[str], n: int) -> None:
    if len(ids) != n:
        raise _bad(RejectReason.MALFORMED, name, f"has {len(ids)} values, expected {n}")
    if not all(ids):
        raise _bad(RejectReason.EMPTY_ID, f"{name}[{ids.index('')}]", "must not be empty")


def decode_batch(
    batch: sidecar_pb2.RecordBatch, config: IngestConfig, known: frozenset[str], now_ms: int
) -> Columns:
    """Validates ``batch`` as a whole; raises ``Rejected`` naming the first bad field."""
    n = len(batch.request_id)
    if n > config.max_batch_records:
        raise _bad(RejectReason.OVERSIZED, "request_id",
                   f"{n} records exceed max_batch_records={config.max_batch_records}")
    request_id = list(batch.request_id)
    _check_ids("request_id", request_id, n)
    model_type = list(batch.model_type)
    _check_ids("model_type", model_type, n)
    unknown = set(model_type) - known
    if unknown:
        first = min(model_type.index(u) for u in unknown)
        raise _bad(RejectReason.UNKNOWN_MODEL_TYPE, f"model_type[{first}]",
                   f"unknown model type {model_type[first]!r}")
    model_id = list(batch.model_id)
    _check_ids("model_id", model_id, n)
    confidence = np.array(batch.confidence, dtype=np.float64)
    latency = np.array(batch.latency_ms, dtype=np.float64)
    for name, col in (("confidence", confidence), ("latency_ms", latency)):
        if len(col) != n:
            raise _bad(RejectReason.MALFORMED, name, f"has {len(col)} values, expected {n}")
    bad = ~np.isfinite(confidence) | (confidence < 0) | (confidence > 1)
    if bad.any():
        i = _first(bad)
        raise _bad(RejectReason.INVALID_NUMBER, f"confidence[{i}]",
                   f"must be a number in [0, 1], got {confidence[i]}")
    bad = ~np.isfinite(latency) | (latency < 0)
    if bad.any():
        i = _first(bad)
        raise _bad(RejectReason.INVALID_NUMBER, f"latency_ms[{i}]",
                   f"must be finite and >= 0, got {latency[i]}")
    numeric_names = list(batch.numeric_names)
    numeric = np.array(batch.numeric, dtype=np.float64)
    if len(set(numeric_names)) != len(numeric_names) or not all(numeric_names):
        raise _bad(RejectReason.MALFORMED, "numeric_names", "must be unique and non-empty")
    if numeric.size != n * len(numeric_names):
        raise _bad(RejectReason.MALFORMED, "numeric",
                   f"has {numeric.size} values, expected {n} x {len(numeric_names)}")
    if np.isinf(numeric).any():
        i = _first(np.isinf(numeric))
        row, col = divmod(i, len(numeric_names))
        raise _bad(RejectReason.INVALID_NUMBER, f"numeric[{row}][{numeric_names[col]!r}]",
                   "must be finite (NaN marks a missing value)")
    categorical_names = list(batch.categorical_names)
    categorical = list(batch.categorical)
    if len(categorical) != n * len(categorical_names):
        raise _bad(RejectReason.MALFORMED, "categorical",
                   f"has {len(categorical)} values, expected {n} x {len(categorical_names)}")
    for name, col in (("document_id", batch.document_id), ("arm", batch.arm),
                      ("ts_ms", batch.ts_ms), ("error", batch.error),
                      ("prediction", batch.prediction), ("payload", batch.payload)):
        _optional_column(name, col, n)
    ts = np.array(batch.ts_ms, dtype=np.int64) if len(batch.ts_ms) else np.full(n, now_ms)
    if (ts <= 0).any():
        i = _first(ts <= 0)
        raise _bad(RejectReason.INVALID_NUMBER, f"ts_ms[{i}]", "must be positive Unix ms")
    prediction = list(batch.prediction)
    payload = list(batch.payload)
    limit = config.max_payload_bytes
    # A batch no larger than the limit cannot hold an oversized record: skip the scan.
    checked = () if batch.ByteSize() <= limit else (("prediction", prediction),
                                                    ("payload", payload))
    for name, col in checked:
        if col and max(map(len, col)) > limit:
            i = next(i for i, v in enumerate(col) if len(v) > limit)
            raise _bad(RejectReason.OVERSIZED, f"{name}[{i}]", f"larger than {limit} bytes")
    return Columns(
        n=n, request_id=request_id, document_id=list(batch.document_id), model_type=model_type,
        model_id=model_id, ts_ms=ts, confidence=confidence, latency_ms=latency,
        error=np.array(batch.error, dtype=np.uint8) if len(batch.error) else np.zeros(n, np.uint8),
        numeric_names=numeric_names, numeric=numeric.reshape(n, len(numeric_names)),
        categorical_names=categorical_names, categorical=categorical,
        prediction=prediction, payload=payload,
    )


def _numeric_for(layout: Layout, cols: Columns, rows: np.ndarray | None) -> np.ndarray | None:
    names = layout.numeric_names
    if not names:
        return None
    src = cols.numeric if rows is None else cols.numeric[rows]
    out = np.full((src.shape[0], len(names)), np.nan)
    index = {name: j for j, name in enumerate(cols.numeric_names)}
    for k, name in enumerate(names):
        j = index.get(name)
        if j is not None:
            out[:, k] = src[:, j]
    return out


def _categorical_for(layout: Layout, cols: Columns, rows: np.ndarray | None
                     ) -> dict[str, list[str]] | None:
    names = layout.categorical_names
    if not names:
        return None
    width = len(cols.categorical_names)
    index = {name: j for j, name in enumerate(cols.categorical_names)}
    picked = range(cols.n) if rows is None else rows.tolist()
    out = {}
    for name in names:
        j = index.get(name)
        out[name] = [""] * len(picked) if j is None else [
            cols.categorical[r * width + j] for r in picked
        ]
    return out


def _codes(values: list[str]) -> tuple[list[str], np.ndarray]:
    """Distinct values (sorted) and each row's index into them."""
    if values.count(values[0]) == len(values):
        return [values[0]], np.zeros(len(values), dtype=np.intp)
    names, codes = np.unique(np.array(values), return_inverse=True)
    return [str(v) for v in names], codes


class DocumentIndex:
    """The latest request id per document id (bounded, least recently recorded evicted).

    Kept in memory and rebuilt from the sample log when the sidecar starts
    (``Store.documents``)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._map: OrderedDict[str, str] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, document_ids: list[str], request_ids: list[str]) -> None:
        with self._lock:
            for doc, req in zip(document_ids, request_ids):
                if doc:
                    self._map[doc] = req
                    self._map.move_to_end(doc)
            while len(self._map) > self._capacity:
                self._map.popitem(last=False)

    def get(self, document_id: str) -> str | None:
        with self._lock:
            return self._map.get(document_id)


class Ingest:
    """Applies validated batches to the windows and the sample log."""

    def __init__(self, config: IngestConfig, store: Store, windows: WindowBook,
                 layout_for: Callable[[str], Layout], documents: DocumentIndex) -> None:
        self._config = config
        self._store = store
        self._windows = windows
        self._layout_for = layout_for
        self._documents = documents
        self._pending = 0
        self._pending_lock = threading.Lock()
        self.on_backlog: Callable[[], None] = lambda: None

    def flushed(self) -> None:
        """Called by the flusher after each flush of the sample log."""
        with self._pending_lock:
            self._pending = 0

    def apply(self, cols: Columns) -> dict[str, int]:
        """Absorbs ``cols``; returns records per model type."""
        groups = self._groups(cols)
        if self._config.log_samples and cols.n:
            # Validated as a whole by statcore before anything is buffered; done first so a
            # refused batch changes nothing.
            self._store.append_columns(
                request_id=cols.request_id, ts_ms=cols.ts_ms,
                prediction=cols.prediction or ["{}"] * cols.n, confidence=cols.confidence,
                model_type=cols.model_type, model_id=cols.model_id,
                document_id=cols.document_id or None, payload=cols.payload or None)
            with self._pending_lock:
                self._pending += cols.n
                backlog = self._pending >= self._config.flush_max_pending
            if backlog:
                self.on_backlog()
        # decode_batch validated everything Aggregate.update checks, so no group fails after
        # another was applied.
        for (model_type, model_id, start), rows in groups:
            layout = self._layout_for(model_type)
            sel = (slice(None) if rows is None else rows)
            self._windows.update(
                (model_type, model_id, start),
                confidence=np.ascontiguousarray(cols.confidence[sel]),
                latency_ms=np.ascontiguousarray(cols.latency_ms[sel]),
                numeric=_numeric_for(layout, cols, rows),
                categorical=_categorical_for(layout, cols, rows),
                error=np.ascontiguousarray(cols.error[sel]),
            )
        if cols.document_id:
            self._documents.add(cols.document_id, cols.request_id)
        counts: dict[str, int] = {}
        for (model_type, _, _), rows in groups:
            counts[model_type] = counts.get(model_type, 0) + (cols.n if rows is None else len(rows))
        return counts

    def _groups(self, cols: Columns) -> list[tuple[tuple[str, str, int], np.ndarray | None]]:
        """(model_type, model_id, window_start) groups, vectorised; ``None`` rows: the whole
        batch."""
        n = cols.n
        if n == 0:
            return []
        ts = cols.ts_ms
        starts = ts - ts % self._windows.window_ms
        mt_names, mt_codes = _codes(cols.model_type)
        mi_names, mi_codes = _codes(cols.model_id)
        for j, model_type in enumerate(mt_names):
            epoch = self._windows.epoch(model_type)
            if epoch:
                mask = starts <= epoch
                if len(mt_names) > 1:
                    mask &= mt_codes == j
                starts[mask] = epoch
        s_names, s_codes = np.unique(starts, return_inverse=True)
        if len(mt_names) == 1 and len(mi_names) == 1 and len(s_names) == 1:
            return [((mt_names[0], mi_names[0], int(s_names[0])), None)]
        combined = (mt_codes * len(mi_names) + mi_codes) * len(s_names) + s_codes
        order = np.argsort(combined, kind="stable")
        bounds = np.flatnonzero(np.diff(combined[order])) + 1
        out: list[tuple[tuple[str, str, int], np.ndarray | None]] = []
        for rows in np.split(order, bounds):
            code = int(combined[rows[0]])
            code, s = divmod(code, len(s_names))
            m, i = divmod(code, len(mi_names))
            out.append(((mt_names[m], mi_names[i], int(s_names[s])), rows))
        return out
