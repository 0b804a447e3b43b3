"""``GrpcFleet``: the :class:`~learner.fleet.interface.Fleet` over the sidecars' admin API.

* **Pull.** ``GetAggregatesStream`` streams every stored window that started at or after
  ``since_ms`` in bounded chunks, the sidecar's status in the first one (one round trip per
  sidecar; layouts the learner already holds are not sent again; a sidecar without the stream
  is asked with the unary ``GetAggregates`` plus ``GetStatus``). The first pull from a sidecar
  reaches back ``first_pull_lookback_s``, 6 h. A window is *closed* once its aligned end has passed on the sidecar's clock
  (``window_end_ms <= now_ms``): the sidecar adds nothing to it afterwards. A window's sequence
  number is its end time and the cursor is the sidecar's ``now_ms`` at the pull, so each pull
  returns the windows that closed since the previous one (re-asking one window length further
  back, and the collector drops any window it has already merged). ``ack`` is a no-op: the
  sidecar keeps windows for its retention period whatever the learner does.
* **Push.** ``SetRoutingTable`` and ``SetBaseline`` go to every sidecar; the ones that do not
  answer are reported as missed, and :meth:`GrpcFleet.reconcile` re-pushes the latest table and
  baselines to any sidecar whose ``GetStatus`` shows another generation (behind; one that is
  ahead refuses it, and the learner's executor re-issues above it) — the convergence path for a
  sidecar that was down during a push.
* **Data plane.** ``route`` (the seed's ``route_prediction``) asks a sidecar's data plane when
  ``data_addresses`` are given, and otherwise decides in the learner from the table it pushed
  (the same deterministic hash, so the same arm as any sidecar). ``record`` needs the data
  addresses (production records come from the inference servers through ``sidecar.client``);
  a labelled outcome is recorded, then joined with ``Feedback``.

* **Concurrency.** ``pull_many``, ``generations``, ``reconcile`` and the pushes call the
  sidecars concurrently, at most ``max_concurrent_pulls`` at a time, each with its own
  deadline of ``timeout_s`` for the whole call (a pull's stream included): a stalled sidecar
  costs its own deadline and delays nobody else. The pool's threads only receive; ``pull_many``
  decodes each sidecar's answer on the caller's thread as it arrives (decoding on many threads
  only fights over the GIL) and yields it, so the caller merges while the other pulls go on;
  at most ``max_concurrent_pulls`` answers are in flight or waiting (bounded memory).

Every call has a deadline; an unreachable sidecar raises ``SidecarUnreachableError`` (the
collector marks it stale and goes on), any other refusal ``FleetError``.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc

import statcore
from learner.errors import FleetError, SidecarUnreachableError
from learner.fleet.discovery import Discovery, DnsDiscovery, StaticDiscovery
from learner.fleet.interface import Baseline, Outcome, PullBatch, PulledWindow, PushKind, PushResult, WindowKey
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2, sidecar_pb2, sidecar_pb2_grpc
from sidecar.tls import TlsSettings, open_channel

__all__ = ["GrpcFleet"]

Clock = Callable[[], float]
T = TypeVar("T")
# A sidecar that comes back must be found again within seconds, not gRPC's default two minutes.
# Aggregate windows can add up to tens of megabytes per pull: raise gRPC's 4 MiB receive limit.
_CHANNEL_OPTIONS = (("grpc.initial_reconnect_backoff_ms", 200), ("grpc.min_reconnect_backoff_ms", 200),
                    ("grpc.max_reconnect_backoff_ms", 2000),
                    ("grpc.max_receive_message_length", 256 * 1024 * 1024))
#: Windows per ``GetAggregatesStream`` chunk the learner asks for (the sidecar also caps a
#: chunk's bytes).
STREAM_CHUNK_WINDOWS = 256
_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}


def table_to_proto(table: statcore.RoutingTable) -> common_pb2.RoutingTable:
    msg = common_pb2.RoutingTable(generation=table.generation)
    for model_type, r in table.routes.items():
        msg.routes[model_type].CopyFrom(common_pb2.ModelRoute(
            champion=r.champion, challenger=r.challenger or "", challenger_share=r.challenger_share, salt=r.salt))
    return msg


class GrpcFleet:
    """The learner's sidecars, reached over gRPC (see the module docs for the semantics)."""

    def __init__(self, discovery: Discovery, *, token: str, timeout_s: float = 5.0, window_s: float = 60.0,
                 clock: Clock = time.time, data_addresses: Mapping[str, str] | None = None,
                 first_pull_lookback_s: float = 6 * 3600.0, tls: TlsSettings | None = None,
                 max_concurrent_pulls: int = 32) -> None:
        if not token:
            raise ValueError("the sidecars' admin token must not be empty")
        if max_concurrent_pulls < 1:
            raise ValueError(f"max_concurrent_pulls must be >= 1 (got {max_concurrent_pulls})")
        self._discovery = discovery
        self._tls = tls
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout = timeout_s
        self._lookback_ms = int(2 * window_s * 1000)
        self._first_lookback_ms = int(first_pull_lookback_s * 1000)
        self._clock = clock
        self._data = dict(data_addresses or {})
        self._lock = threading.Lock()
        self._channels: dict[str, grpc.Channel] = {}
        self._layouts: dict[int, statcore.Layout] = {}
        self._table: statcore.RoutingTable | None = None
        self._baselines: dict[str, Baseline] = {}
        self._applied: dict[str, dict[str, Baseline]] = {}
        self._unary_only: set[str] = set()  # sidecars older than GetAggregatesStream
        self._bound = max_concurrent_pulls
        self._pool = ThreadPoolExecutor(max_concurrent_pulls, thread_name_prefix="fleet")

    @classmethod
    def from_config(cls, config: Any, *, token: str, clock: Clock = time.time,
                    tls: TlsSettings | None = None) -> GrpcFleet:
        """From the learner's ``[fleet]`` config section (``static`` or ``dns`` + ``port``)."""
        discovery: Discovery
        if config.static:
            discovery = StaticDiscovery(list(config.static))
        else:
            discovery = DnsDiscovery(config.dns, config.port, refresh_s=config.refresh_s)
        return cls(discovery, token=token, timeout_s=config.timeout_s, clock=clock,
                   window_s=getattr(config, "window_s", 60.0), tls=tls,
                   max_concurrent_pulls=getattr(config, "max_concurrent_pulls", 32))

    @property
    def max_concurrent_pulls(self) -> int:
        """How many sidecars are called at once."""
        return self._bound

    # ---- plumbing ----

    def _channel(self, address: str) -> grpc.Channel:
        with self._lock:
            channel = self._channels.get(address)
            if channel is None:
                channel = self._channels[address] = open_channel(address, self._tls, _CHANNEL_OPTIONS)
            return channel

    def _admin(self, address: str, method: str, request: Any, timeout: float | None = None) -> Any:
        stub = admin_pb2_grpc.AdminStub(self._channel(address))
        try:
            return getattr(stub, method)(request, metadata=self._metadata,
                                         timeout=self._timeout if timeout is None else timeout)
        except grpc.RpcError as exc:
            raise _fleet_error(address, method, exc) from None

    def _concurrently(self, addresses: Iterable[str], call: Callable[[str], T]
                      ) -> Iterator[tuple[str, T | FleetError]]:
        """``call(address)`` for every address on the pool, at most ``max_concurrent_pulls``
        submitted and not yet consumed; yields ``(address, result or FleetError)`` as each
        finishes. Anything but a ``FleetError`` is a bug and is raised."""
        todo = iter(addresses)
        pending: dict[Future[T], str] = {}

        def top_up() -> None:
            for address in todo:
                pending[self._pool.submit(call, address)] = address
                if len(pending) >= self._bound:
                    return

        top_up()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                address = pending.pop(future)
                try:
                    result: T | FleetError = future.result()
                except FleetError as exc:
                    result = exc
                yield address, result
            top_up()

    def _data_stub(self, address: str) -> sidecar_pb2_grpc.SidecarStub:
        data = self._data.get(address)
        if data is None:
            raise FleetError(f"no data-plane address configured for sidecar {address}")
        return sidecar_pb2_grpc.SidecarStub(self._channel(data))

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            for channel in self._channels.values():
                channel.close()
            self._channels.clear()

    # ---- Fleet ----

    def sidecars(self) -> list[str]:
        return self._discovery.addresses(self._clock())

    def _layout(self, fingerprint: int, blobs: Mapping[int, bytes]) -> statcore.Layout:
        with self._lock:
            layout = self._layouts.get(fingerprint)
        if layout is None:
            if fingerprint not in blobs:
                raise FleetError(f"sidecar sent a window over unknown layout {fingerprint:016x}")
            layout = statcore.Layout.decode(blobs[fingerprint])
            with self._lock:
                self._layouts[fingerprint] = layout
        return layout

    def _since(self, after_seq: int) -> int:
        # The first pull from a sidecar reaches back ``first_pull_lookback_s``, not its whole
        # retention (days of windows); later pulls one window length before the cursor.
        if after_seq:
            return max(0, after_seq - self._lookback_ms)
        return max(0, int(self._clock() * 1000) - self._first_lookback_ms)

    def pull(self, sidecar: str, after_seq: int) -> PullBatch:
        return self._decode(self._receive(sidecar, after_seq))

    def pull_many(self, cursors: Mapping[str, int]) -> Iterator[tuple[str, PullBatch | FleetError]]:
        """Receives from every sidecar of ``cursors`` concurrently; decodes each answer on the
        caller's thread as it arrives (the pool's threads only wait on the network: no GIL
        contention over decoding)."""
        received = self._concurrently(list(cursors), lambda sidecar: self._receive(sidecar, cursors[sidecar]))
        for sidecar, answer in received:
            if isinstance(answer, FleetError):
                yield sidecar, answer
                continue
            try:
                yield sidecar, self._decode(answer)
            except FleetError as exc:
                yield sidecar, exc

    def _receive(self, sidecar: str, after_seq: int) -> _Received:
        deadline = time.monotonic() + self._timeout  # for the whole pull, whatever it takes
        if sidecar not in self._unary_only:
            try:
                return self._receive_stream(sidecar, after_seq, deadline)
            except _StreamUnimplemented:
                with self._lock:
                    self._unary_only.add(sidecar)
        return self._receive_unary(sidecar, after_seq, deadline)

    def _receive_stream(self, sidecar: str, after_seq: int, deadline: float) -> _Received:
        with self._lock:
            known = list(self._layouts)
        request = admin_pb2.GetAggregatesStreamRequest(
            since_ms=self._since(after_seq), max_windows=STREAM_CHUNK_WINDOWS, known_layouts=known)
        stub = admin_pb2_grpc.AdminStub(self._channel(sidecar))
        call = stub.GetAggregatesStream(request, metadata=self._metadata,
                                        timeout=max(0.0, deadline - time.monotonic()))
        chunks: list[admin_pb2.AggregatesChunk] = []
        try:
            chunks.extend(call)
        except grpc.RpcError as exc:
            if isinstance(exc, grpc.Call) and exc.code() is grpc.StatusCode.UNIMPLEMENTED:
                raise _StreamUnimplemented() from None
            raise _fleet_error(sidecar, "GetAggregatesStream", exc) from None
        finally:
            call.cancel()  # a no-op once the stream has ended; frees it on any error
        if not chunks or not chunks[0].HasField("status"):
            raise FleetError(f"sidecar {sidecar}: GetAggregatesStream did not start with its status")
        return _Received(sidecar, after_seq, [(c.windows, c.layouts) for c in chunks], chunks[0].now_ms,
                         int(chunks[0].status.routing_generation))

    def _receive_unary(self, sidecar: str, after_seq: int, deadline: float) -> _Received:
        request = admin_pb2.GetAggregatesRequest(since_ms=self._since(after_seq))
        response = self._admin(sidecar, "GetAggregates", request, max(0.0, deadline - time.monotonic()))
        status = self._admin(sidecar, "GetStatus", admin_pb2.GetStatusRequest(),
                             max(0.0, deadline - time.monotonic()))
        return _Received(sidecar, after_seq, [(response.windows, response.layouts)], response.now_ms,
                         int(status.routing_generation))

    def pull_unary(self, sidecar: str, after_seq: int) -> PullBatch:
        """The pull over the unary ``GetAggregates`` plus ``GetStatus`` (what a sidecar older
        than the stream is asked; also the benchmark's baseline): one message, every window."""
        return self._decode(self._receive_unary(sidecar, after_seq, time.monotonic() + self._timeout))

    def _decode(self, received: _Received) -> PullBatch:
        """Closed windows (after the cursor, each with its end as sequence number) and open
        ones, decoded against their layouts."""
        closed: list[PulledWindow] = []
        opened: list[statcore.Aggregate] = []
        blobs: dict[int, bytes] = {}
        resolved: dict[int, statcore.Layout] = {}  # one look-up in the shared cache per layout
        for windows, layouts in received.parts:
            blobs.update(layouts)
            for w in windows:
                fingerprint = w.layout_fingerprint
                try:
                    layout = resolved.get(fingerprint)
                    if layout is None:
                        layout = resolved[fingerprint] = self._layout(fingerprint, blobs)
                    data = w.aggregate
                    model_type, model_id, start, end = statcore.Aggregate.peek(data, layout)
                    if (model_type, model_id, start) != (w.model_type, w.model_id, w.window_start_ms):
                        raise ValueError(f"the window says {w.model_type}/{w.model_id}@{w.window_start_ms}, "
                                         f"its aggregate {model_type}/{model_id}@{start}")
                    if end > received.now_ms:
                        opened.append(statcore.Aggregate.decode(data, layout))
                    elif end > received.after_seq:  # merged later straight from the bytes
                        key = WindowKey(received.sidecar, model_type, model_id, start, w.generation)
                        closed.append(PulledWindow(end, key, encoded=data, layout=layout))
                except (ValueError, statcore.StatcoreError) as exc:  # a corrupt window or layout
                    raise FleetError(f"sidecar {received.sidecar}: undecodable window: {exc}") from None
        closed.sort(key=lambda p: (p.seq, p.key))
        return PullBatch(tuple(closed), tuple(opened), max(received.after_seq, received.now_ms),
                         received.generation)

    def ack(self, sidecar: str, seq: int) -> None:
        """Nothing to do: sidecars keep windows for their retention period (see module docs)."""

    def _push(self, kind: PushKind, generation: int, send: Callable[[str], None]) -> PushResult:
        started = time.perf_counter()
        addresses = self.sidecars()
        outcome = dict(self._concurrently(addresses, send))
        applied = [a for a in addresses if not isinstance(outcome[a], FleetError)]
        missed = [a for a in addresses if isinstance(outcome[a], SidecarUnreachableError)]
        refused = [a for a in addresses if isinstance(outcome[a], FleetError) and a not in missed]
        return PushResult(kind, generation, tuple(applied), tuple(missed), time.perf_counter() - started,
                          tuple(refused))

    def generations(self) -> dict[str, int]:
        def generation(address: str) -> int:
            return int(self._admin(address, "GetStatus", admin_pb2.GetStatusRequest()).routing_generation)

        found = dict(self._concurrently(self.sidecars(), generation))
        return {a: g for a, g in sorted(found.items()) if not isinstance(g, FleetError)}

    def reach_back(self, since_ms: int) -> None:
        now_ms = int(self._clock() * 1000)
        self._first_lookback_ms = max(self._first_lookback_ms, now_ms - since_ms)

    def push_routing(self, table: statcore.RoutingTable) -> PushResult:
        if self._table is None or table.generation > self._table.generation:
            self._table = table
        request = admin_pb2.SetRoutingTableRequest(table=table_to_proto(table))
        return self._push(PushKind.ROUTING, table.generation,
                          lambda address: self._admin(address, "SetRoutingTable", request))

    def _send_baseline(self, address: str, baseline: Baseline) -> None:
        metrics = {} if baseline.accuracy is None else {"accuracy": float(baseline.accuracy)}
        self._admin(address, "SetBaseline", admin_pb2.SetBaselineRequest(
            model_type=baseline.model_type, layout=baseline.layout.encode(),
            reference=baseline.reference.encode(), metrics=metrics))
        with self._lock:
            self._applied.setdefault(address, {})[baseline.model_type] = baseline

    def push_baseline(self, baseline: Baseline) -> PushResult:
        self._baselines[baseline.model_type] = baseline
        generation = self._table.generation if self._table is not None else 0
        return self._push(PushKind.BASELINE, generation, lambda address: self._send_baseline(address, baseline))

    def _reconcile_one(self, address: str) -> bool:
        status = self._admin(address, "GetStatus", admin_pb2.GetStatusRequest())
        with self._lock:
            seen = dict(self._applied.get(address, {}))
        table, baselines = self._table, dict(self._baselines)
        stale = [b for t, b in baselines.items() if seen.get(t) is not b or t not in status.baselines]
        differs = table is not None and status.routing_generation != table.generation
        if differs and table is not None:
            self._admin(address, "SetRoutingTable", admin_pb2.SetRoutingTableRequest(table=table_to_proto(table)))
        for baseline in stale:
            self._send_baseline(address, baseline)
        return bool(differs or stale)

    def reconcile(self) -> list[str]:
        return sorted(a for a, updated in self._concurrently(self.sidecars(), self._reconcile_one)
                      if updated is True)

    def _serving(self, key: str | None) -> str:
        addresses = [a for a in self.sidecars() if a in self._data]
        if not addresses:
            raise FleetError("route/record need data-plane addresses (GrpcFleet(data_addresses=...))")
        return addresses[hash(key or "") % len(addresses)] if key else addresses[0]

    def route(self, model_type: str, key: str | None = None) -> str:
        """The model a request with ``key`` is served by. Without data-plane addresses the
        learner decides itself from the table it pushed: the routing hash is deterministic, so
        the answer is the one every sidecar holding that table gives (for a keyless request,
        a uniform draw like theirs)."""
        if not self._data:
            if self._table is None:
                raise FleetError(f"no routing table pushed yet for {model_type!r}")
            try:
                return str(statcore.Router(self._table).route(model_type, key))
            except ValueError as exc:
                raise FleetError(str(exc)) from None
        address = self._serving(key)
        try:
            response = self._data_stub(address).Route(
                sidecar_pb2.RouteRequest(model_type=model_type, key=key or ""), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _fleet_error(address, "Route", exc) from None
        return str(response.model_id)

    def record(self, outcome: Outcome) -> None:
        address = self._serving(outcome.key)
        request_id = f"learner-{uuid.uuid4().hex}"
        truth = "right" if outcome.correct else "wrong"
        batch = sidecar_pb2.RecordBatch(
            request_id=[request_id], document_id=[outcome.key or ""], model_type=[outcome.model_type],
            model_id=[outcome.model_id], ts_ms=[int(self._clock() * 1000)], confidence=[outcome.confidence],
            latency_ms=[outcome.latency_ms], error=[outcome.error],
            numeric_names=list(outcome.features), numeric=[float(v) for v in outcome.features.values()],
            prediction=[json.dumps({"doc_type": "right"})])
        stub = self._data_stub(address)
        try:
            stub.Record(batch, timeout=self._timeout)
            if outcome.correct is not None:
                stub.Feedback(sidecar_pb2.FeedbackRequest(
                    request_id=request_id, label=json.dumps({"doc_type": truth})), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise _fleet_error(address, "Record", exc) from None


class _StreamUnimplemented(Exception):
    """The sidecar predates ``GetAggregatesStream``."""


@dataclass(frozen=True)
class _Received:
    """One sidecar's answer to a pull, as received (decoded by ``GrpcFleet._decode``)."""

    sidecar: str
    after_seq: int
    parts: list[tuple[Sequence[admin_pb2.AggregateWindow], Mapping[int, bytes]]]
    now_ms: int
    generation: int


def _fleet_error(address: str, method: str, exc: grpc.RpcError) -> FleetError:
    code = exc.code() if isinstance(exc, grpc.Call) else None
    message = f"sidecar {address}: {method} failed: {code.name if code else 'error'}: " \
              f"{exc.details() if isinstance(exc, grpc.Call) else exc}"
    if code in _UNREACHABLE:
        return SidecarUnreachableError(message)
    return FleetError(message)
