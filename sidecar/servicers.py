"""Thin gRPC servicers: validate, call domain code, map errors through ``status_map``."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NoReturn

import grpc

import sidecar
import statcore
from loopwise_proto.v1 import admin_pb2, admin_pb2_grpc, common_pb2, sidecar_pb2, sidecar_pb2_grpc
from sidecar.aggregates import stream_chunks, window_messages
from sidecar.baselines import BaselineBook
from sidecar.clock import Clock
from sidecar.config import IngestConfig
from sidecar.errors import Rejected, RejectReason, bounded, excerpt
from sidecar.feedback import FeedbackJoiner
from sidecar.ingest import Ingest, decode_batch
from sidecar.metrics import Plane, SidecarMetrics
from sidecar.registration import add_service
from sidecar.routing_state import ARM_TO_PROTO, RoutingState, table_from_proto, table_to_proto
from sidecar.status_map import STATUS, abort, classify
from sidecar.windows import WindowBook
from statcore import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Domain:
    """The domain objects the servicers call (built once by the server factory)."""

    config: IngestConfig
    store: Store
    routing: RoutingState
    baselines: BaselineBook
    windows: WindowBook
    ingest: Ingest
    feedback: FeedbackJoiner
    metrics: SidecarMetrics
    clock: Clock


def _reject(domain: Domain, context: grpc.ServicerContext, exc: BaseException, plane: Plane,
            timed: tuple[str, float] | None = None) -> NoReturn:
    """Ends the RPC for ``exc``: counts the rejection on its plane and, for a timed method
    (``(method, perf_counter at its start)``), its duration under the status code it ends with."""
    rejected = classify(exc)
    code = grpc.StatusCode.INTERNAL if rejected is None else STATUS[rejected.reason]
    if timed is not None:
        domain.metrics.rpc(timed[0], time.perf_counter() - timed[1], code)
    if rejected is None:
        log.exception("internal error")
        context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(exc).__name__}")
        raise AssertionError("unreachable")  # pragma: no cover
    domain.metrics.reject(rejected.reason, plane)
    abort(context, rejected)


#: Sequence numbers are u64 on the wire but i64 in the store.
MAX_SEQ = (1 << 63) - 1


def _check_seq(field: str, seq: int) -> None:
    if seq > MAX_SEQ:
        raise Rejected(RejectReason.INVALID_NUMBER, field, f"must be at most {MAX_SEQ}, got {seq}")


def _records_in(raw: bytes) -> int:
    """Records in a refused serialized batch (0 when it does not even parse)."""
    try:
        return len(sidecar_pb2.RecordBatch.FromString(raw).request_id)
    except Exception:  # noqa: BLE001 - malformed bytes: nothing countable
        return 0


def add_sidecar_servicer(servicer: SidecarServicer, server: grpc.Server) -> None:
    """Registers ``loopwise.v1.Sidecar`` (``sidecar.registration``: bytes that do not decode are
    INVALID_ARGUMENT). ``Record`` and ``RecordStream`` receive the serialized ``RecordBatch``:
    statcore decodes and validates it in one crossing (``sidecar.ingest.decode_batch``), so it
    is never parsed in Python."""
    add_service(server, sidecar_pb2.DESCRIPTOR.services_by_name["Sidecar"], servicer,
                on_malformed=servicer.malformed, raw=frozenset({"Record", "RecordStream"}))


def add_admin_servicer(servicer: AdminServicer, server: grpc.Server) -> None:
    """Registers ``loopwise.v1.Admin`` (bytes that do not decode are INVALID_ARGUMENT)."""
    add_service(server, admin_pb2.DESCRIPTOR.services_by_name["Admin"], servicer,
                on_malformed=servicer.malformed)


class SidecarServicer(sidecar_pb2_grpc.SidecarServicer):
    """The data plane."""

    def __init__(self, domain: Domain) -> None:
        self._d = domain
        self._router = domain.routing.router

    def malformed(self) -> None:
        """Counts a request that does not decode (called by ``sidecar.registration``)."""
        self._d.metrics.reject(RejectReason.MALFORMED, Plane.DATA)

    def _decide(self, request: sidecar_pb2.RouteRequest, counted: bool = True
                ) -> sidecar_pb2.RouteResponse:
        if not request.model_type:
            raise Rejected(RejectReason.EMPTY_ID, "model_type", "must not be empty")
        try:
            model_id, arm = self._router.decide(request.model_type, request.key or None)
        except statcore.UnknownModelTypeError:
            raise Rejected(RejectReason.UNKNOWN_MODEL_TYPE, "model_type",
                           f"unknown model type {excerpt(request.model_type)}") from None
        if counted:
            self._d.metrics.routed(request.model_type, arm.value)
        return sidecar_pb2.RouteResponse(model_id=model_id, arm=ARM_TO_PROTO[arm],
                                         generation=self._router.generation, tag=request.tag)

    def Route(self, request: sidecar_pb2.RouteRequest, context: grpc.ServicerContext
              ) -> sidecar_pb2.RouteResponse:
        t0 = time.perf_counter()
        try:
            response = self._decide(request)
        except Exception as e:  # noqa: BLE001 - mapped (or logged as internal) by _reject
            _reject(self._d, context, e, Plane.DATA, ("Route", t0))
        self._d.metrics.rpc("Route", time.perf_counter() - t0)
        return response

    def RouteStream(self, request_iterator: Iterable[sidecar_pb2.RouteRequest],
                    context: grpc.ServicerContext) -> Iterator[sidecar_pb2.RouteResponse]:
        # Metrics are batched per stream (every 256 messages and at the end): on one long
        # stream the per-message metric calls would otherwise be a visible share of latency.
        counts: dict[tuple[str, int], int] = {}
        pending = 0
        try:
            for request in request_iterator:
                try:
                    response = self._decide(request, counted=False)
                except Exception as e:  # noqa: BLE001
                    _reject(self._d, context, e, Plane.DATA)
                key = (request.model_type, response.arm)
                counts[key] = counts.get(key, 0) + 1
                pending += 1
                if pending >= 256:
                    self._flush_counts(counts)
                    pending = 0
                yield response
        finally:
            self._flush_counts(counts)

    def _flush_counts(self, counts: dict[tuple[str, int], int]) -> None:
        for (model_type, arm), n in counts.items():
            label = "champion" if arm == common_pb2.ARM_CHAMPION else "challenger"
            self._d.metrics.route_decisions.labels(model_type, label).inc(n)
        counts.clear()

    def _record(self, raw: bytes) -> int:
        now = self._d.clock.now_ms()
        batch = decode_batch(raw, self._d.config, self._d.routing.model_types(), now)
        for model_type, n in self._d.ingest.apply(batch, now).items():
            self._d.metrics.records.labels(model_type).inc(n)
        return len(batch)

    def Record(self, request: bytes, context: grpc.ServicerContext) -> sidecar_pb2.RecordAck:
        """``request`` is the serialized ``RecordBatch`` (see ``add_sidecar_servicer``)."""
        t0 = time.perf_counter()
        try:
            n = self._record(request)
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.DATA, ("Record", t0))
        self._d.metrics.rpc("Record", time.perf_counter() - t0)
        return sidecar_pb2.RecordAck(accepted=n, batches=1)

    def RecordStream(self, request_iterator: Iterable[bytes],
                     context: grpc.ServicerContext) -> sidecar_pb2.RecordAck:
        ack = sidecar_pb2.RecordAck()
        for raw in request_iterator:
            t0 = time.perf_counter()
            try:
                ack.accepted += self._record(raw)
                ack.batches += 1
            except Exception as e:  # noqa: BLE001 - a bad batch is refused, the stream goes on
                rejected = classify(e)
                if rejected is None:
                    log.exception("internal error in RecordStream")
                    rejected = Rejected(RejectReason.MALFORMED, "", f"internal error: {e!r}")
                self._d.metrics.reject(rejected.reason, Plane.DATA)
                self._d.metrics.rpc("RecordStream", time.perf_counter() - t0, STATUS[rejected.reason])
                ack.rejected_batches += 1
                ack.rejected_records += _records_in(raw)
                ack.first_error = ack.first_error or bounded(str(rejected))
                continue
            self._d.metrics.rpc("RecordStream", time.perf_counter() - t0)
        return ack

    def Feedback(self, request: sidecar_pb2.FeedbackRequest, context: grpc.ServicerContext
                 ) -> sidecar_pb2.FeedbackResponse:
        t0 = time.perf_counter()
        try:
            joined = self._d.feedback.join(request)
        except Exception as e:  # noqa: BLE001
            rejected = classify(e)
            unknown = rejected is not None and rejected.reason is RejectReason.UNKNOWN_REQUEST
            self._d.metrics.feedback.labels("not_found" if unknown else "rejected").inc()
            _reject(self._d, context, e, Plane.DATA, ("Feedback", t0))
        self._d.metrics.feedback.labels("joined").inc()
        self._d.metrics.rpc("Feedback", time.perf_counter() - t0)
        return sidecar_pb2.FeedbackResponse(
            seq=joined.seq, request_id=joined.request_id, model_type=joined.model_type,
            model_id=joined.model_id, correct=joined.correct)

    def WatchRouting(self, request: sidecar_pb2.WatchRoutingRequest,
                     context: grpc.ServicerContext) -> Iterator[common_pb2.RoutingTable]:
        for table in self._d.routing.watch(context.is_active):
            yield table_to_proto(table)


def sample_to_proto(s: statcore.Sample) -> admin_pb2.Sample:
    msg = admin_pb2.Sample(
        seq=s.seq, ts_ms=s.ts_ms, model_type=s.model_type, model_id=s.model_id,
        request_id=s.request_id, document_id=s.document_id, payload=s.payload,
        prediction=s.prediction, confidence=s.confidence, human_correction=s.human_correction)
    if s.label is not None:
        msg.label = s.label
    return msg


class AdminServicer(admin_pb2_grpc.AdminServicer):
    """The admin plane (behind the bearer-token interceptor)."""

    def __init__(self, domain: Domain) -> None:
        self._d = domain

    def malformed(self) -> None:
        """Counts a request that does not decode (called by ``sidecar.registration``)."""
        self._d.metrics.reject(RejectReason.MALFORMED, Plane.ADMIN)

    def SetRoutingTable(self, request: admin_pb2.SetRoutingTableRequest,
                        context: grpc.ServicerContext) -> admin_pb2.SetRoutingTableResponse:
        try:
            now = self._d.clock.now_ms()
            changed = self._d.routing.install(table_from_proto(request.table), now)
            if changed:
                self._d.windows.cut(now)
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)
        return admin_pb2.SetRoutingTableResponse(changed=changed,
                                                 generation=self._d.routing.generation)

    def SetBaseline(self, request: admin_pb2.SetBaselineRequest, context: grpc.ServicerContext
                    ) -> admin_pb2.SetBaselineResponse:
        try:
            now = self._d.clock.now_ms()
            baseline = self._d.baselines.install(request, now)
            self._d.windows.layout_changed(baseline.model_type, now)
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)
        return admin_pb2.SetBaselineResponse(layout_fingerprint=baseline.layout.fingerprint)

    def GetAggregates(self, request: admin_pb2.GetAggregatesRequest,
                      context: grpc.ServicerContext) -> admin_pb2.GetAggregatesResponse:
        try:
            now = self._d.clock.now_ms()
            self._d.windows.flush(now)
            rows = self._d.store.windows_since(request.since_ms)
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)
        response = admin_pb2.GetAggregatesResponse(
            now_ms=now, windows=window_messages(rows, self._d.routing.generation_at))
        fps = {w.layout_fingerprint for w in response.windows}
        for fp, layout in self._d.baselines.layouts(fps).items():
            response.layouts[fp] = layout
        return response

    def GetAggregatesStream(self, request: admin_pb2.GetAggregatesStreamRequest,
                            context: grpc.ServicerContext) -> Iterator[admin_pb2.AggregatesChunk]:
        try:
            now = self._d.clock.now_ms()
            self._d.windows.flush(now)
            rows = self._d.store.windows_since(request.since_ms)
            status = self._status()
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)
        yield from stream_chunks(window_messages(rows, self._d.routing.generation_at), now_ms=now,
                                 status=status, layouts_of=self._d.baselines.layouts,
                                 known_layouts=request.known_layouts, max_windows=request.max_windows)

    def PullSamples(self, request: admin_pb2.PullSamplesRequest, context: grpc.ServicerContext
                    ) -> Iterator[admin_pb2.Sample]:
        limit = min(request.limit or self._d.config.pull_limit, self._d.config.pull_limit)
        after, sent = request.after_seq, 0
        try:
            _check_seq("after_seq", after)
        except Rejected as e:
            _reject(self._d, context, e, Plane.ADMIN)
        while sent < limit and context.is_active():
            try:
                chunk = self._d.store.pull(after, min(1000, limit - sent))
            except Exception as e:  # noqa: BLE001
                _reject(self._d, context, e, Plane.ADMIN)
            if not chunk:
                return
            for s in chunk:
                yield sample_to_proto(s)
            sent += len(chunk)
            after = chunk[-1].seq

    def AckSamples(self, request: admin_pb2.AckSamplesRequest, context: grpc.ServicerContext
                   ) -> admin_pb2.AckSamplesResponse:
        try:
            _check_seq("seq", request.seq)
            self._d.store.ack(request.seq)
            cursor = self._d.store.cursor()
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)
        return admin_pb2.AckSamplesResponse(cursor=cursor)

    def GetStatus(self, request: admin_pb2.GetStatusRequest, context: grpc.ServicerContext
                  ) -> admin_pb2.GetStatusResponse:
        try:
            return self._status()
        except Exception as e:  # noqa: BLE001
            _reject(self._d, context, e, Plane.ADMIN)

    def _status(self) -> admin_pb2.GetStatusResponse:
        stats = self._d.store.stats()
        records = sum(s.value for m in self._d.metrics.records.collect() for s in m.samples
                      if s.name.endswith("_total"))
        return admin_pb2.GetStatusResponse(
            routing_generation=self._d.routing.generation,
            baselines=self._d.baselines.model_types(), samples=stats["samples"],
            cursor=stats["cursor"], evicted_total=stats["evicted_total"],
            records_total=int(records), last_flush_ms=stats.get("last_flush_ms", 0),
            version=sidecar.__version__)
