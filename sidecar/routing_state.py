"""The routing table in force: decisions, generation-checked installs, persistence, watchers."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

from loopwise_proto.v1 import common_pb2
from sidecar.errors import Rejected, RejectReason
from statcore import Store
from statcore._statcore import Arm, Route, Router, RoutingTable

ARM_TO_PROTO = {Arm.CHAMPION: common_pb2.ARM_CHAMPION, Arm.CHALLENGER: common_pb2.ARM_CHALLENGER}


def table_from_proto(msg: common_pb2.RoutingTable) -> RoutingTable:
    """Builds (and validates, in statcore) a routing table from its wire form."""
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
        self._changed = threading.Condition()
        self._closed = False

    @property
    def generation(self) -> int:
        return int(self.router.generation)

    def model_types(self) -> frozenset[str]:
        return frozenset(self.router.table.routes)

    def install(self, table: RoutingTable) -> bool:
        """Installs ``table``; ``Rejected(STALE_GENERATION)`` if older than the one in force
        (or the same generation with other content). Durable before it takes effect."""
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
            self._store.put_routing(table.generation, table.encode())
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
