"""Stored aggregate windows as admin-API messages: one window list for ``GetAggregates`` and
bounded chunks for ``GetAggregatesStream``.

A chunk closes at ``max_windows`` windows or once it holds about ``CHUNK_BYTES`` of aggregates
(it always holds at least one window), so no message grows with the fleet's history; a layout
is sent in the first chunk that needs it and never again in the same stream, nor when the
caller says it already holds it. The first chunk carries the status and is always sent.

>>> rows = [("clf", "m1", start, b"x" * 600_000) for start in (0, 60_000, 120_000)]
>>> chunks = list(stream_chunks(window_messages(rows, lambda start: 3), now_ms=180_000,
...                             status=admin_pb2.GetStatusResponse(routing_generation=3),
...                             layouts_of=lambda fps: {fp: b"layout" for fp in fps}))
>>> [len(c.windows) for c in chunks], [c.HasField("status") for c in chunks]
([2, 1], [True, False])
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

from loopwise_proto.v1 import admin_pb2
from sidecar.baselines import fingerprint_of

__all__ = ["CHUNK_BYTES", "DEFAULT_MAX_WINDOWS", "window_messages", "stream_chunks"]

#: Aggregate bytes after which a chunk is closed (well under gRPC's default 4 MiB receive limit).
CHUNK_BYTES = 1 << 20
#: Windows per chunk when the request does not say.
DEFAULT_MAX_WINDOWS = 256

Row = tuple[str, str, int, bytes]


def window_messages(rows: Iterable[Row], generation_at: Callable[[int], int]
                    ) -> list[admin_pb2.AggregateWindow]:
    """Store rows ``(model_type, model_id, window_start_ms, blob)`` as messages, each with the
    fingerprint of its layout and the routing generation in force when it started."""
    return [admin_pb2.AggregateWindow(model_type=model_type, model_id=model_id, window_start_ms=start,
                                      layout_fingerprint=fingerprint_of(blob), aggregate=blob,
                                      generation=generation_at(start))
            for model_type, model_id, start, blob in rows]


def stream_chunks(windows: Sequence[admin_pb2.AggregateWindow], *, now_ms: int,
                  status: admin_pb2.GetStatusResponse,
                  layouts_of: Callable[[set[int]], dict[int, bytes]],
                  known_layouts: Iterable[int] = (), max_windows: int = 0) -> Iterator[admin_pb2.AggregatesChunk]:
    """The chunks of one ``GetAggregatesStream`` answer (see the module docs)."""
    limit = max_windows or DEFAULT_MAX_WINDOWS
    sent = set(known_layouts)
    first = True
    start = 0
    while first or start < len(windows):
        end, size = start, 0
        while end < len(windows) and end - start < limit and (end == start or size < CHUNK_BYTES):
            size += len(windows[end].aggregate)
            end += 1
        part = windows[start:end]
        chunk = admin_pb2.AggregatesChunk(windows=part, now_ms=now_ms)
        if first:
            chunk.status.CopyFrom(status)
        needed = {w.layout_fingerprint for w in part} - sent
        for fp, blob in layouts_of(needed).items():
            chunk.layouts[fp] = blob
        sent |= needed
        yield chunk
        first, start = False, end
