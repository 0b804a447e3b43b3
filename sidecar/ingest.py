"""Record batches: one crossing into statcore per batch, then the windows and the sample log.

A ``RecordBatch`` arrives serialized (the data plane does not parse it in Python): statcore
decodes it and validates it as a whole before anything is applied (a refused batch changes
nothing, and the error names the first bad field), splits it into (model_type, model_id,
window) groups, appends every record to the durable sample log (unless ``log_samples`` is off;
durable at the next flush, within ``flush_interval_s``; indexed in memory by request id and
document id for ``Feedback``) and updates each group's aggregate window with one call.

Features: numeric columns are matched to the model type's layout by name; a layout feature
absent from the batch is missing (NaN); batch features not in the layout are ignored. NaN in a
feature means "missing"; ±inf is refused. Confidence must be in [0, 1] and latency finite and
>= 0 (NaN refused). Rules and field names: ``statcore/core/src/ingest/batch.rs``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

import statcore
from sidecar.config import IngestConfig
from sidecar.errors import Rejected, RejectReason
from sidecar.latency import LatencyHistogram
from sidecar.windows import WindowBook
from statcore import BatchRejectedError, RecordBatch, Store

log = logging.getLogger(__name__)


def decode_batch(raw: bytes, config: IngestConfig, known: Iterable[str], now_ms: int) -> RecordBatch:
    """Decodes and validates a serialized ``RecordBatch``; raises ``Rejected`` naming the first
    bad field."""
    try:
        return RecordBatch.decode(raw, max_batch_records=config.max_batch_records,
                                  max_payload_bytes=config.max_payload_bytes,
                                  model_types=set(known), now_ms=now_ms,
                                  max_future_skew_ms=round(config.max_future_skew_s * 1000),
                                  max_age_ms=config.max_record_age_s * 1000)
    except BatchRejectedError as e:
        raise Rejected(RejectReason(e.reason), e.field, e.detail) from None


class Ingest:
    """Applies validated batches to the windows and the sample log."""

    def __init__(self, config: IngestConfig, store: Store, windows: WindowBook,
                 latency: LatencyHistogram | None = None) -> None:
        self._config = config
        self._store = store
        self._windows = windows
        #: Counts each applied record's latency (the cumulative Prometheus histogram).
        self._latency = latency
        #: Flushes the sample log in the calling thread (set by the flusher): used when twice
        #: ``flush_max_pending`` records wait, so ingest slows to the pace of the disk instead
        #: of growing the buffer without bound.
        self.flush_now: Callable[[], None] = lambda: None

    def apply(self, batch: RecordBatch, now_ms: int) -> dict[str, int]:
        """Absorbs ``batch`` (arrived at ``now_ms``); returns records per model type.

        Accepted whole or refused whole: everything that can refuse the batch — its windows
        opened (an id or a start the store could not hold), then the sample log's checks
        (request ids new to the log) — happens before any record reaches the log or a window.
        """
        windows = self._windows
        epochs, cut = windows.epochs()
        groups = batch.groups(windows.window_ms, epochs, cut)
        logged = self._config.log_samples and len(batch) > 0
        # One lock over the append and the window updates: a flush captures the windows with
        # the log's next seq, never with a batch half-applied (``sidecar.windows``).
        with windows.applying():
            windows.prepare([(model_type, model_id, start) for model_type, model_id, start, _ in groups])
            if logged:
                try:
                    self._store.append_batch(batch)
                except BatchRejectedError as e:
                    raise Rejected(RejectReason(e.reason), e.field, e.detail) from None
            for model_type, model_id, start, rows in groups:
                windows.update_batch((model_type, model_id, start), batch, rows)
        if logged:
            self._after_append(now_ms)
        if self._latency is not None and groups:
            latency_ms = batch.latency_ms()
            for model_type, model_id, _, rows in groups:
                self._latency.observe(model_type, model_id, latency_ms[rows])
        counts: dict[str, int] = {}
        for model_type, _, _, rows in groups:
            counts[model_type] = counts.get(model_type, 0) + len(rows)
        return counts

    def _after_append(self, now_ms: int) -> None:
        """Back-pressure: a backlog of ``flush_max_pending`` records is flushed by statcore's
        flush thread; at twice that, by this thread."""
        pending = self._store.pending()
        if pending >= 2 * self._config.flush_max_pending:
            self.flush_now()
        elif pending >= self._config.flush_max_pending:
            # statcore's flush thread commits while this one goes on (no GIL, no wait).
            try:
                self._store.flush_in_background(now_ms)
            except statcore.StoreError:
                log.exception("background flush of the sample log failed; records stay buffered")
