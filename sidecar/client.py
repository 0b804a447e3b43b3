"""Client library for inference servers: ``SidecarClient`` with ``route``, ``record``,
``feedback``.

Failure policy (the inference path never waits on, or fails because of, the sidecar):

* ``record()`` only enqueues into a bounded queue (``queue_size``); a background thread sends
  batches of up to ``batch_size`` records. A full queue or a failed send *drops* records: they
  are counted (``stats().dropped`` and the ``loopwise_sidecar_client_records_dropped_total``
  metric) and logged at most every 10 s, never raised.
* ``route()`` **fails open**: if the sidecar cannot answer within ``timeout_s``, the client
  serves the last champion it saw for that model type (else ``default_champions``), counts it
  (``loopwise_sidecar_client_route_fallbacks_total``) and logs a warning. With neither, there
  is no model to name and ``NoRouteError`` is raised.
* In-process mode (``in_process=True``) subscribes to ``WatchRouting`` and decides locally
  with statcore's router: the same hash as the sidecar, so the same arm for the same key. The
  last table received keeps serving while the sidecar is away.

>>> # client = SidecarClient("127.0.0.1:50051", default_champions={"invoice": "inv-v3"})
>>> # model_id, arm, fell_back = client.route("invoice", key="customer-42")
"""

from __future__ import annotations

import json
import logging
import math
import queue
import threading
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import grpc
from prometheus_client import CollectorRegistry, Counter

from loopwise_proto.v1 import common_pb2, sidecar_pb2, sidecar_pb2_grpc
from sidecar.routing_state import table_from_proto
from statcore._statcore import Arm, Router

log = logging.getLogger(__name__)

_ARM_FROM_PROTO = {common_pb2.ARM_CHAMPION: Arm.CHAMPION, common_pb2.ARM_CHALLENGER: Arm.CHALLENGER}
_ARM_TO_PROTO = {Arm.CHAMPION: common_pb2.ARM_CHAMPION, Arm.CHALLENGER: common_pb2.ARM_CHALLENGER}
_STOP = object()


class NoRouteError(RuntimeError):
    """The sidecar is unreachable and no champion is known for the model type."""


class Decision(NamedTuple):
    """A routing decision. ``fail_open``: the sidecar did not answer; the champion served."""

    model_id: str
    arm: Arm
    fail_open: bool = False


class ClientStats(NamedTuple):
    sent: int
    dropped: int
    route_fallbacks: int


class _Rec(NamedTuple):
    request_id: str
    model_type: str
    model_id: str
    confidence: float
    latency_ms: float
    document_id: str
    arm: int
    ts_ms: int
    error: bool
    numeric: Mapping[str, float] | None
    categorical: Mapping[str, str] | None
    prediction: str
    payload: bytes


def build_batch(records: list[_Rec]) -> sidecar_pb2.RecordBatch:
    """Columnar ``RecordBatch`` from queued records (feature names unioned, missing = NaN)."""
    num_names: dict[str, None] = {}
    cat_names: dict[str, None] = {}
    for r in records:
        if r.numeric:
            num_names.update(dict.fromkeys(r.numeric))
        if r.categorical:
            cat_names.update(dict.fromkeys(r.categorical))
    b = sidecar_pb2.RecordBatch(
        request_id=[r.request_id for r in records],
        model_type=[r.model_type for r in records],
        model_id=[r.model_id for r in records],
        confidence=[r.confidence for r in records],
        latency_ms=[r.latency_ms for r in records],
        ts_ms=[r.ts_ms for r in records],
        arm=[r.arm for r in records],
        error=[r.error for r in records],
        prediction=[r.prediction for r in records],
        numeric_names=list(num_names),
        categorical_names=list(cat_names),
    )
    if any(r.document_id for r in records):
        b.document_id.extend(r.document_id for r in records)
    if any(r.payload for r in records):
        b.payload.extend(r.payload for r in records)
    if num_names:
        b.numeric.extend(
            (r.numeric or {}).get(n, math.nan) for r in records for n in num_names)
    if cat_names:
        b.categorical.extend(
            (r.categorical or {}).get(n, "") for r in records for n in cat_names)
    return b


class SidecarClient:
    """Talks to the sidecar's data plane; safe to share between threads."""

    def __init__(
        self,
        target: str,
        *,
        credentials: grpc.ChannelCredentials | None = None,
        default_champions: Mapping[str, str] | None = None,
        in_process: bool = False,
        batch_size: int = 1000,
        queue_size: int = 100_000,
        flush_interval_s: float = 0.2,
        timeout_s: float = 0.5,
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._channel = (grpc.secure_channel(target, credentials) if credentials
                         else grpc.insecure_channel(target))
        self._stub = sidecar_pb2_grpc.SidecarStub(self._channel)
        self._champions: dict[str, str] = dict(default_champions or {})
        self._timeout = timeout_s
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._sent = 0
        self._dropped = 0
        self._fallbacks = 0
        self._last_warning = 0.0
        self._lock = threading.Lock()
        registry = registry if registry is not None else CollectorRegistry()
        self._m_dropped = Counter("loopwise_sidecar_client_records_dropped",
                                  "Records dropped by the client (queue full or send failed).",
                                  registry=registry)
        self._m_fallbacks = Counter("loopwise_sidecar_client_route_fallbacks",
                                    "Routing decisions served fail-open (sidecar unreachable).",
                                    ["model_type"], registry=registry)
        self._closed = threading.Event()
        self._router: Router | None = None
        self._table_ready = threading.Event()
        self._sender = threading.Thread(target=self._send_loop, name="sidecar-client-sender",
                                        daemon=True)
        self._sender.start()
        self._watch_call: Any = None
        if in_process:
            threading.Thread(target=self._watch_loop, name="sidecar-client-watch",
                             daemon=True).start()

    # ---- routing ----

    def wait_for_table(self, timeout_s: float) -> bool:
        """In-process mode: waits until the first routing table arrived."""
        return self._table_ready.wait(timeout_s)

    def route(self, model_type: str, key: str | None = None) -> Decision:
        """Which model serves this request; never raises for an unreachable sidecar if a
        champion is known (see the module docs)."""
        router = self._router
        if router is not None:
            try:
                model_id, arm = router.decide(model_type, key)
                return Decision(model_id, arm)
            except ValueError:
                pass  # unknown to the local table: ask the sidecar
        try:
            r = self._stub.Route(sidecar_pb2.RouteRequest(model_type=model_type, key=key or ""),
                                 timeout=self._timeout)
        except grpc.RpcError as e:
            if e.code() == grpc.StatusCode.INVALID_ARGUMENT:
                raise
            return self._fail_open(model_type, e)
        arm = _ARM_FROM_PROTO[r.arm]
        if arm is Arm.CHAMPION:
            self._champions[model_type] = r.model_id
        return Decision(r.model_id, arm)

    def _fail_open(self, model_type: str, error: grpc.RpcError) -> Decision:
        champion = self._champions.get(model_type)
        if champion is None:
            raise NoRouteError(f"sidecar unreachable ({error.code().name}) and no champion "
                               f"known for {model_type!r}") from error
        with self._lock:
            self._fallbacks += 1
        self._m_fallbacks.labels(model_type).inc()
        self._warn(f"sidecar unreachable ({error.code().name}): routing {model_type!r} to "
                   f"last known champion {champion!r}")
        return Decision(champion, Arm.CHAMPION, True)

    def _watch_loop(self) -> None:
        backoff = 0.1
        while not self._closed.is_set():
            try:
                self._watch_call = self._stub.WatchRouting(sidecar_pb2.WatchRoutingRequest())
                for msg in self._watch_call:
                    table = table_from_proto(msg)
                    for model_type, r in table.routes.items():
                        self._champions[model_type] = r.champion
                    if self._router is None:
                        self._router = Router(table)
                    else:
                        self._router.swap(table)
                    self._table_ready.set()
                    backoff = 0.1
            except grpc.RpcError as e:
                if self._closed.is_set():
                    return
                self._warn(f"routing watch interrupted ({e.code().name}); keeping last table")
            except Exception:  # noqa: BLE001 - keep the last table, retry
                log.exception("routing watch failed")
            self._closed.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    # ---- records ----

    def record(
        self, request_id: str, model_type: str, model_id: str, *, confidence: float,
        latency_ms: float, document_id: str = "", arm: Arm | None = None,
        ts_ms: int | None = None, error: bool = False,
        numeric: Mapping[str, float] | None = None, categorical: Mapping[str, str] | None = None,
        prediction: Mapping[str, Any] | str | None = None, payload: bytes = b"",
    ) -> bool:
        """Queues one record; returns False (and counts a drop) if the queue is full."""
        pred = prediction if isinstance(prediction, str) else json.dumps(prediction or {})
        rec = _Rec(request_id, model_type, model_id, confidence, latency_ms, document_id,
                   _ARM_TO_PROTO[arm] if arm is not None else common_pb2.ARM_UNSPECIFIED,
                   ts_ms if ts_ms is not None else time.time_ns() // 1_000_000, error,
                   numeric, categorical, pred, payload)
        try:
            self._queue.put_nowait(rec)
            return True
        except queue.Full:
            self._drop(1, "record queue full")
            return False

    def _drop(self, n: int, why: str) -> None:
        with self._lock:
            self._dropped += n
        self._m_dropped.inc(n)
        self._warn(f"dropped {n} record(s): {why}")

    def _warn(self, message: str) -> None:
        now = time.monotonic()
        if now - self._last_warning >= 10.0:
            self._last_warning = now
            log.warning(message)

    def _send_loop(self) -> None:
        pending: list[_Rec] = []
        deadline = time.monotonic() + self._flush_interval
        while True:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                item = None
            if item is _STOP:
                self._send(pending)
                return
            if item is not None:
                pending.append(item)
            if len(pending) >= self._batch_size or time.monotonic() >= deadline:
                self._send(pending)
                pending = []
                deadline = time.monotonic() + self._flush_interval

    def _send(self, records: list[_Rec]) -> None:
        if not records:
            return
        try:
            ack = self._stub.Record(build_batch(records), timeout=max(self._timeout, 2.0))
            with self._lock:
                self._sent += ack.accepted
        except grpc.RpcError as e:
            self._drop(len(records), f"send failed ({e.code().name}: {e.details()})")

    def flush(self, timeout_s: float = 5.0) -> None:
        """Waits until everything queued so far was sent (or dropped)."""
        end = time.monotonic() + timeout_s
        while not self._queue.empty() and time.monotonic() < end:
            time.sleep(0.01)
        time.sleep(self._flush_interval + 0.05)

    # ---- feedback ----

    def feedback(self, label: Mapping[str, Any] | str, *, request_id: str = "",
                 document_id: str = "", human_correction: bool = False,
                 timeout_s: float = 5.0) -> sidecar_pb2.FeedbackResponse:
        """Joins a label; raises ``grpc.RpcError`` (NOT_FOUND for an unknown request)."""
        text = label if isinstance(label, str) else json.dumps(label)
        return self._stub.Feedback(
            sidecar_pb2.FeedbackRequest(request_id=request_id, document_id=document_id,
                                        label=text, human_correction=human_correction),
            timeout=timeout_s)

    def stats(self) -> ClientStats:
        with self._lock:
            return ClientStats(self._sent, self._dropped, self._fallbacks)

    def close(self) -> None:
        """Sends what is queued (best effort), stops the threads, closes the channel."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._queue.put(_STOP)
        self._sender.join(timeout=5.0)
        if self._watch_call is not None:
            self._watch_call.cancel()
        self._channel.close()

    def __enter__(self) -> SidecarClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
