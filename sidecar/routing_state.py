"""The routing table in force: decisions, generation-checked installs, persistence, watchers.

Every change is also appended to a persisted history of ``(generation, effective_ms)``, so the
sidecar can say under which generation any window was served (``generation_at``); windows are
cut at each change (see ``WindowBook.cut``).
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Callable, Iterator

from loopwise_proto.v1 import common_pb2
from sidecar.errors import Rejected, RejectReason
from statcore import Store
from statcore._statcore import Arm, Route, Router, RoutingTable

ARM_TO_PROTO = {Arm.CHAMPION: common_pb2.ARM_CHAMPION, Arm.CHALLENGER: common_pb2.ARM_CHALLENGER}
HISTORY_BLOB = "routing-history"
HISTORY_LIMIT = 4096
_ENTRY = struct.Struct("<Qq")  # generation, effective_ms


#: Generations are u64 on the wire but stored as i64.
MAX_GENERATION = (1 << 63) - 1


def table_from_proto(msg: common_pb2.RoutingTable) -> RoutingTable:
    """Builds (and validates, in statcore) a routing table from its wire form; a generation
    past ``MAX_GENERATION`` is ``Rejected(INVALID_NUMBER)``."""
    if msg.generation > MAX_GENERATION:
        raise Rejected(RejectReason.INVALID_NUMBER, "table.generation",
                       f"must be at most {MAX_GENERATION}, got {msg.generation}")
    routes = {
        model_type: Route(r.champion, r.challenger or None, r.challenger_share, r.salt)
        for model_type, r in msg.routes.items()
    }
    return RoutingTable(msg.generation, routes)


def table_to_proto(table: RoutingTable) -> common_pb2.RoutingTable:
    msg = common_pb2.RoutingTable(generation=table.generation)
    for model_type, r in table.routes.items():
        msg.routes[model_type].CopyFrom(
            common_pb2.ModelRoute(
                champion=r.champion,
                challenger=r.challenger or "",
                challenger_share=r.challenger_share,
                salt=r.salt,
            )
        )
    return msg


class RoutingState:
    """Owns the ``Router``; installs persist to the store before they take effect."""

    def __init__(self, store: Store) -> None:
        self._store = store
        stored = store.get_routing()
        self.router = Router(RoutingTable.decode(stored[1]) if stored else None)
        blob = store.get_blob(HISTORY_BLOB) or b""
        self._history: list[tuple[int, int]] = [
            _ENTRY.unpack_from(blob, i) for i in range(0, len(blob) - len(blob) % _ENTRY.size, _ENTRY.size)
        ]
        self._changed = threading.Condition()
        self._closed = False

    def generation_at(self, ms: int) -> int:
        """The generation in force at ``ms`` (0 before the first recorded table)."""
        with self._changed:
            current = 0
            for generation, effective_ms in self._history:
                if effective_ms > ms:
                    break
                current = generation
            return current

    @property
    def last_change_ms(self) -> int:
        """When the table in force was installed (0 if never)."""
        with self._changed:
            return self._history[-1][1] if self._history else 0

    @property
    def generation(self) -> int:
        return int(self.router.generation)

    def model_types(self) -> frozenset[str]:
        return frozenset(self.router.table.routes)

    def install(self, table: RoutingTable, now_ms: int) -> bool:
        """Installs ``table``; ``Rejected(STALE_GENERATION)`` if older than the one in force
        (or the same generation with other content). Durable (table and history) before it
        takes effect."""
        with self._changed:
            current = self.router.table
            if table.generation < current.generation or (
                table.generation == current.generation and table != current
            ):
                raise Rejected(
                    RejectReason.STALE_GENERATION,
                    "table.generation",
                    f"generation {table.generation} is stale: {current.generation} is in force",
                )
            if table == current:
                return False
            history = (self._history + [(table.generation, now_ms)])[-HISTORY_LIMIT:]
            self._store.put_blob(HISTORY_BLOB, b"".join(_ENTRY.pack(g, t) for g, t in history))
            self._store.put_routing(table.generation, table.encode())
            self._history = history
            changed = bool(self.router.swap(table))
            self._changed.notify_all()
            return changed

    def watch(self, is_active: Callable[[], bool], poll_s: float = 0.5) -> Iterator[RoutingTable]:
        """Yields the table in force, then each newly installed one, until ``is_active()``
        is false or the state is closed."""
        last = None
        while not self._closed and is_active():
            with self._changed:
                table = self.router.table
                if last is not None and table.generation == last:
                    self._changed.wait(poll_s)
                    continue
            last = table.generation
            yield table

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
